//! Volumes aloft created (`aloft volumes apply`) and the clusters that mount them.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::StateDb;
use crate::state::StateError;

/// A volume aloft created or adopted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    /// The volume's name in aloft (what a task's `volumes:` names).
    pub name: String,
    /// SkyPilot's type: `k8s-pvc` or `runpod-network-volume`.
    pub kind: String,
    /// The provider it lives on (`kubernetes`, `runpod`).
    pub provider: String,
    /// Where: the kubeconfig context, or RunPod's data center.
    pub region: String,
    /// Size in GiB, when known.
    pub size_gib: Option<u64>,
    /// The provider's id: the PVC's `namespace/name`, RunPod's volume id.
    pub cloud_id: String,
    /// The volume file as applied (JSON).
    pub spec_json: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// One mount of a volume by a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeUse {
    /// The volume's name.
    pub volume: String,
    /// The cluster mounting it.
    pub cluster: String,
    /// Where its nodes see it.
    pub mount_path: String,
}

impl StateDb {
    /// Records a volume (replacing a record of the same name).
    pub fn put_volume(&self, v: &VolumeRecord) -> Result<(), StateError> {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO volumes
                 (name, kind, provider, region, size_gib, cloud_id, spec_json, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    v.name,
                    v.kind,
                    v.provider,
                    v.region,
                    v.size_gib.map(|s| s as i64),
                    v.cloud_id,
                    v.spec_json,
                    v.created_at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Every volume, by name.
    pub fn volumes(&self) -> Result<Vec<VolumeRecord>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("{SELECT_VOLUME} ORDER BY name"))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt.query_map([], volume_row).map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }

    /// The volume named `name`.
    pub fn volume(&self, name: &str) -> Result<Option<VolumeRecord>, StateError> {
        self.conn
            .query_row(
                &format!("{SELECT_VOLUME} WHERE name = ?1"),
                params![name],
                volume_row,
            )
            .optional()
            .map_err(|e| self.sqlite(e))
    }

    /// Forgets volume `name` (and any use of it).
    pub fn remove_volume(&self, name: &str) -> Result<(), StateError> {
        self.conn
            .execute("DELETE FROM volumes WHERE name = ?1", params![name])
            .map_err(|e| self.sqlite(e))?;
        self.conn
            .execute("DELETE FROM volume_uses WHERE volume = ?1", params![name])
            .map_err(|e| self.sqlite(e))?;
        Ok(())
    }

    /// Sets the volumes cluster `cluster` mounts (replacing what was recorded).
    pub fn set_volume_uses(&self, cluster: &str, uses: &[VolumeUse]) -> Result<(), StateError> {
        self.conn
            .execute(
                "DELETE FROM volume_uses WHERE cluster = ?1",
                params![cluster],
            )
            .map_err(|e| self.sqlite(e))?;
        for u in uses {
            self.conn
                .execute(
                    "INSERT OR IGNORE INTO volume_uses (volume, cluster, mount_path)
                     VALUES (?1, ?2, ?3)",
                    params![u.volume, cluster, u.mount_path],
                )
                .map_err(|e| self.sqlite(e))?;
        }
        Ok(())
    }

    /// Every recorded use of a volume by a cluster aloft still knows.
    pub fn volume_uses(&self) -> Result<Vec<VolumeUse>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT u.volume, u.cluster, u.mount_path FROM volume_uses u
                 JOIN clusters c ON c.name = u.cluster ORDER BY u.volume, u.cluster",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |row| {
                Ok(VolumeUse {
                    volume: row.get(0)?,
                    cluster: row.get(1)?,
                    mount_path: row.get(2)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sqlite(e))
    }
}

const SELECT_VOLUME: &str =
    "SELECT name, kind, provider, region, size_gib, cloud_id, spec_json, created_at FROM volumes";

fn volume_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<VolumeRecord> {
    Ok(VolumeRecord {
        name: row.get(0)?,
        kind: row.get(1)?,
        provider: row.get(2)?,
        region: row.get(3)?,
        size_gib: row.get::<_, Option<i64>>(4)?.map(|s| s.max(0) as u64),
        cloud_id: row.get(5)?,
        spec_json: row.get(6)?,
        created_at: row.get(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_and_their_uses_go_with_their_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("state.db")).unwrap();
        let v = VolumeRecord {
            name: "data".into(),
            kind: "k8s-pvc".into(),
            provider: "kubernetes".into(),
            region: "ctx".into(),
            size_gib: Some(10),
            cloud_id: "aloft/data".into(),
            spec_json: "{}".into(),
            created_at: 1,
        };
        db.put_volume(&v).unwrap();
        assert_eq!(db.volume("data").unwrap(), Some(v.clone()));
        assert_eq!(db.volumes().unwrap(), vec![v]);
        let use_ = VolumeUse {
            volume: "data".into(),
            cluster: "c1".into(),
            mount_path: "/data".into(),
        };
        db.set_volume_uses("c1", std::slice::from_ref(&use_))
            .unwrap();
        // No cluster record: the use does not count.
        assert!(db.volume_uses().unwrap().is_empty());
        db.remove_volume("data").unwrap();
        assert_eq!(db.volume("data").unwrap(), None);
    }
}
