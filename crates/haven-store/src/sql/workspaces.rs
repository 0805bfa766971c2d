//! SQL for the workspaces part of the storage port: the application catalogue.

use async_trait::async_trait;
use haven_core::StoreError;
use haven_core::workspaces::catalogue::{App, AppKind, CatalogueTx, DefaultApp};

use super::rows::Columns;
use super::unit::SqlTx;

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("a stored application's {what} cannot be read"))
}

#[async_trait]
impl CatalogueTx for SqlTx<'_> {
    async fn insert_app(&mut self, app: &App) -> Result<(), StoreError> {
        let command = serde_json::to_string(&app.command).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let q = sqlx::query(
            "INSERT INTO apps (name, version, kind, command, description, added_by, added_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(app.name.as_str())
        .bind(app.version.as_str())
        .bind(app.kind.as_str())
        .bind(command)
        .bind(app.description.as_str())
        .bind(app.added_by.as_str())
        .bind(app.added_us);
        self.exec(q).await.map(|_| ())
    }

    async fn apps(&mut self) -> Result<Vec<App>, StoreError> {
        let q = sqlx::query("SELECT name, version, kind, command, description, added_by, added_us FROM apps");
        self.all(q)
            .await?
            .iter()
            .map(|r| {
                let kind: String = r.col("kind")?;
                let command: String = r.col("command")?;
                Ok(App {
                    name: r.col("name")?,
                    version: r.col("version")?,
                    kind: AppKind::parse(&kind).ok_or_else(|| corrupt("kind"))?,
                    command: serde_json::from_str(&command).map_err(|_| corrupt("command"))?,
                    description: r.col("description")?,
                    added_by: r.col("added_by")?,
                    added_us: r.col("added_us")?,
                })
            })
            .collect()
    }

    async fn set_app_default(&mut self, d: &DefaultApp) -> Result<(), StoreError> {
        let q = sqlx::query(
            "INSERT INTO app_defaults (extension, name, version) VALUES ($1, $2, $3) \
             ON CONFLICT (extension) DO UPDATE SET name = excluded.name, version = excluded.version",
        )
        .bind(d.extension.as_str())
        .bind(d.name.as_str())
        .bind(d.version.as_str());
        self.exec(q).await.map(|_| ())
    }

    async fn app_defaults(&mut self) -> Result<Vec<DefaultApp>, StoreError> {
        let q = sqlx::query("SELECT extension, name, version FROM app_defaults ORDER BY extension");
        self.all(q)
            .await?
            .iter()
            .map(|r| {
                Ok(DefaultApp { extension: r.col("extension")?, name: r.col("name")?, version: r.col("version")? })
            })
            .collect()
    }
}
