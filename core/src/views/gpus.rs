//! Accelerators: `gpus list` from the catalogs or live offers, and Kubernetes GPU counts.

use super::{Detail, Table, View, number, price};
use crate::catalog::AcceleratorListing;
use crate::client::KubeGpus;

/// `show-gpus` (`gpus list`): one table per accelerator, as SkyPilot prints them,
/// a blank line between them; each row the cheapest offer of a cloud and count,
/// in its cheapest region or, with `by_region`, in each region. With
/// [`Detail::Full`] (`-v`), the memory of one device too.
pub fn accelerators(listings: &[AcceleratorListing], by_region: bool, detail: Detail) -> View {
    let mut view = View::new();
    for (i, listing) in listings.iter().enumerate() {
        let mut header = vec!["GPU", "QTY", "CLOUD", "INSTANCE_TYPE"];
        if detail.is_full() {
            header.push("DEVICE_MEM");
        }
        header.extend(["vCPUs", "Mem(GB)"]);
        header.push(if by_region {
            "REGION"
        } else {
            "CHEAPEST REGION"
        });
        header.extend(["$/hr", "SPOT $/hr"]);
        let mut table = Table::boxed(header);
        for offer in &listing.offers {
            let mut row = vec![
                listing.accelerator.clone(),
                number(offer.count),
                offer.cloud.clone(),
                offer.instance_type.clone(),
            ];
            if detail.is_full() {
                row.push(
                    listing
                        .memory_gb
                        .map_or("-".into(), |gb| format!("{}GB", number(gb))),
                );
            }
            row.extend([
                number(offer.vcpus),
                number(offer.memory_gib),
                offer.region.clone(),
                offer.price.map_or("-".into(), price),
                offer.spot_price.map_or("-".into(), price),
            ]);
            table.row(row);
        }
        if i > 0 {
            view = view.line("");
        }
        view = view.table(table);
    }
    view
}

/// `show-gpus --infra k8s[/CONTEXT]`: per context, each GPU type with its total
/// and free counts and the nodes that have it.
pub fn kubernetes(rows: &[KubeGpus]) -> View {
    let table = Table::boxed(["CONTEXT", "GPU", "TOTAL", "FREE", "NODES"]).with_rows(
        rows.iter().map(|r| {
            [
                r.context.clone(),
                r.gpu.clone(),
                r.total.to_string(),
                r.free.to_string(),
                r.nodes.to_string(),
            ]
        }),
    );
    View::new().table(table)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::CloudPrice;
    use crate::views::Block;

    fn listing(name: &str) -> AcceleratorListing {
        AcceleratorListing {
            accelerator: name.into(),
            memory_gb: Some(80.0),
            offers: vec![CloudPrice {
                cloud: "aws".into(),
                count: 8.0,
                instance_type: "p4de.24xlarge".into(),
                vcpus: 96.0,
                memory_gib: 1152.0,
                region: "us-east-1".into(),
                price: Some(40.9657),
                spot_price: None,
            }],
        }
    }

    #[test]
    fn one_table_per_accelerator_with_device_memory_in_full() {
        let listings = [listing("A100-80GB"), listing("A100")];
        let view = accelerators(&listings, false, Detail::Brief);
        assert_eq!(view.blocks.len(), 3);
        assert_eq!(view.blocks[1], Block::Line(String::new()));
        let brief = view.tables().next().unwrap();
        assert_eq!(
            brief.header,
            [
                "GPU",
                "QTY",
                "CLOUD",
                "INSTANCE_TYPE",
                "vCPUs",
                "Mem(GB)",
                "CHEAPEST REGION",
                "$/hr",
                "SPOT $/hr"
            ]
        );
        assert_eq!(
            brief.rows[0],
            [
                "A100-80GB",
                "8",
                "aws",
                "p4de.24xlarge",
                "96",
                "1152",
                "us-east-1",
                "$40.97",
                "-"
            ]
        );
        assert_eq!(view.tables().nth(1).unwrap().rows[0][0], "A100");
        let full = accelerators(&listings[..1], true, Detail::Full);
        let full = full.tables().next().unwrap();
        assert_eq!(full.header[4], "DEVICE_MEM");
        assert_eq!(full.header[7], "REGION");
        assert_eq!(full.rows[0][4], "80GB");
    }

    #[test]
    fn kubernetes_counts_per_context() {
        let rows = [KubeGpus {
            context: "kind-a".into(),
            gpu: "H100".into(),
            total: 8,
            free: 3,
            nodes: 1,
        }];
        let view = kubernetes(&rows);
        let t = view.tables().next().unwrap();
        assert_eq!(t.header, ["CONTEXT", "GPU", "TOTAL", "FREE", "NODES"]);
        assert_eq!(t.rows[0], ["kind-a", "H100", "8", "3", "1"]);
    }
}
