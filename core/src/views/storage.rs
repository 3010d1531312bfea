//! Buckets and volumes: `storage ls`, `volumes ls`, and what their deletions report.

use super::{Detail, Table, View, shortened};
use crate::client::{BucketDeletion, VolumeView};
use crate::clock::utc;
use crate::state::{StorageRecord, VolumeRecord};

/// Characters of a bucket's source `storage ls` shows without `-v` (SkyPilot
/// truncates long fields the same way).
const SOURCE_WIDTH: usize = 40;

/// `storage ls`: the buckets aloft created, the source shortened unless
/// [`Detail::Full`] (`-v`); a note when there are none.
pub fn buckets(buckets: &[StorageRecord], detail: Detail) -> View {
    if buckets.is_empty() {
        return View::new().note("No buckets created by aloft.");
    }
    let mut table = Table::boxed(["NAME", "STORE", "REGION", "SOURCE", "CREATED (UTC)"]);
    for b in buckets {
        let source = b.source.as_deref().unwrap_or("-");
        table.row([
            b.name.clone(),
            b.store.clone(),
            b.region.clone(),
            if detail.is_full() {
                source.to_string()
            } else {
                shortened(source, SOURCE_WIDTH)
            },
            utc(b.created_at),
        ]);
    }
    View::new().table(table)
}

/// `storage delete`: how deleting bucket `name` went.
pub fn bucket_deleted(name: &str, outcome: &BucketDeletion) -> View {
    View::new().note(match outcome {
        BucketDeletion::Deleted(n) => format!("Deleted bucket `{name}` ({n} object(s))."),
        BucketDeletion::AlreadyGone => format!("Bucket `{name}` was already gone."),
    })
}

/// The question `storage delete --all` and `volumes delete --all` ask before
/// deleting `names`: `noun` is what they are (`bucket`), `what` what goes with
/// them (`and everything in them`).
pub fn deletion_question(noun: &str, what: &str, names: &[String]) -> String {
    format!(
        "Deleting {} {noun}(s) {what}: {}",
        names.len(),
        names.join(", ")
    )
}

/// `volumes ls`: the volumes aloft knows and the clusters that mount them (and
/// where); a note when there are none.
pub fn volumes(volumes: &[VolumeView]) -> View {
    if volumes.is_empty() {
        return View::new().note("No volumes.");
    }
    let mut table = Table::boxed([
        "NAME",
        "TYPE",
        "INFRA",
        "SIZE",
        "ID",
        "USED BY",
        "CREATED (UTC)",
    ]);
    for v in volumes {
        let r = &v.record;
        let used: Vec<String> = v
            .used_by
            .iter()
            .map(|u| format!("{} ({})", u.cluster, u.mount_path))
            .collect();
        table.row([
            r.name.clone(),
            r.kind.clone(),
            format!("{}/{}", r.provider, r.region),
            r.size_gib.map_or("-".into(), |s| format!("{s}Gi")),
            r.cloud_id.clone(),
            if used.is_empty() {
                "-".into()
            } else {
                used.join(", ")
            },
            utc(r.created_at),
        ]);
    }
    View::new().table(table)
}

/// `volumes apply`: the volume created, and where.
pub fn volume_created(record: &VolumeRecord) -> View {
    View::new().note(format!(
        "Created volume `{}`: {} on {}/{} ({}).",
        record.name, record.kind, record.provider, record.region, record.cloud_id
    ))
}

/// `volumes delete`: volume `name` deleted.
pub fn volume_deleted(name: &str) -> View {
    View::new().note(format!("Deleted volume `{name}`."))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::VolumeUse;
    use crate::views::Block;

    #[test]
    fn buckets_shorten_the_source_unless_full() {
        let source = "/home/me/a/very/long/path/to/the/training/data/set";
        let rows = [StorageRecord {
            name: "aloft-data".into(),
            store: "S3".into(),
            region: "us-east-1".into(),
            source: Some(source.into()),
            created_at: 0,
            cluster: None,
        }];
        let brief = buckets(&rows, Detail::Brief);
        let t = brief.tables().next().unwrap();
        assert_eq!(
            t.header,
            ["NAME", "STORE", "REGION", "SOURCE", "CREATED (UTC)"]
        );
        assert_eq!(t.rows[0][3], "/home/me/a/very/long/path/to/the/trai...");
        assert_eq!(t.rows[0][4], utc(0));
        assert_eq!(
            buckets(&rows, Detail::Full).tables().next().unwrap().rows[0][3],
            source
        );
        assert_eq!(
            buckets(&[], Detail::Brief).blocks,
            [Block::Note("No buckets created by aloft.".into())]
        );
        assert_eq!(
            bucket_deleted("b", &BucketDeletion::Deleted(3)).blocks,
            [Block::Note("Deleted bucket `b` (3 object(s)).".into())]
        );
        assert_eq!(
            bucket_deleted("b", &BucketDeletion::AlreadyGone).to_string(),
            "Bucket `b` was already gone.\n"
        );
        assert_eq!(
            deletion_question(
                "bucket",
                "and everything in them",
                &["a".into(), "b".into()]
            ),
            "Deleting 2 bucket(s) and everything in them: a, b"
        );
    }

    #[test]
    fn volumes_show_who_mounts_them() {
        let record = VolumeRecord {
            name: "data".into(),
            kind: "k8s-pvc".into(),
            provider: "kubernetes".into(),
            region: "kind-a".into(),
            size_gib: Some(10),
            cloud_id: "default/data".into(),
            spec_json: "{}".into(),
            created_at: 0,
        };
        let used_by = vec![VolumeUse {
            volume: "data".into(),
            cluster: "dev".into(),
            mount_path: "/mnt/data".into(),
        }];
        let rows = [
            VolumeView {
                record: record.clone(),
                used_by,
            },
            VolumeView {
                record: VolumeRecord {
                    size_gib: None,
                    ..record.clone()
                },
                used_by: Vec::new(),
            },
        ];
        let view = volumes(&rows);
        let t = view.tables().next().unwrap();
        assert_eq!(t.header[5], "USED BY");
        assert_eq!(
            t.rows[0][..6],
            [
                "data",
                "k8s-pvc",
                "kubernetes/kind-a",
                "10Gi",
                "default/data",
                "dev (/mnt/data)"
            ]
        );
        assert_eq!((t.rows[1][3].as_str(), t.rows[1][5].as_str()), ("-", "-"));
        assert_eq!(volumes(&[]).blocks, [Block::Note("No volumes.".into())]);
        assert_eq!(
            volume_created(&record).blocks,
            [Block::Note(
                "Created volume `data`: k8s-pvc on kubernetes/kind-a (default/data).".into()
            )]
        );
        assert_eq!(
            volume_deleted("data").to_string(),
            "Deleted volume `data`.\n"
        );
    }
}
