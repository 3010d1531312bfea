//! Azure's sizes and their prices: the shapes of the NC, ND and NV GPU families
//! (and a few general-purpose sizes) are a table here, their prices come live from
//! Azure's public Retail Prices API (`https://prices.azure.com/api/retail/prices`,
//! no credentials), so a catalog row exists only where Azure publishes a Linux
//! pay-as-you-go price for the size in the region; the spot price is that of the
//! size's `Spot` meter when there is one.
//!
//! Provenance of the table: vCPUs, memory and GPUs of each size as Microsoft's
//! size pages list them (learn.microsoft.com/azure/virtual-machines/sizes/gpu-accelerated:
//! NCasT4_v3, NCv3, NC A100 v4, NCads H100 v5, ND A100 v4, NDm A100 v4, ND H100 v5,
//! NVadsA10 v5, NVv3; Dsv5 for the CPU sizes), written by hand. Fractional-GPU
//! sizes (NV6ads_A10_v5 and the like) are left out: aloft counts whole GPUs.

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::types::{Offer, ProviderError};
use aloft_provider_sdk::{errors, signing::uri_encode};
use serde::Deserialize;

/// The Retail Prices API's host, for the manifest.
pub const PRICES_HOST: &str = "prices.azure.com";
const PRICES: &str = "https://prices.azure.com/api/retail/prices";

/// A size: (name, accelerator, count, vCPUs, memory GiB, GPU memory MiB each).
type Size = (
    &'static str,
    Option<&'static str>,
    f64,
    f64,
    f64,
    Option<u64>,
);

/// The sizes aloft offers on Azure.
pub const SIZES: &[Size] = &[
    (
        "Standard_NC4as_T4_v3",
        Some("T4"),
        1.0,
        4.0,
        28.0,
        Some(16384),
    ),
    (
        "Standard_NC8as_T4_v3",
        Some("T4"),
        1.0,
        8.0,
        56.0,
        Some(16384),
    ),
    (
        "Standard_NC16as_T4_v3",
        Some("T4"),
        1.0,
        16.0,
        110.0,
        Some(16384),
    ),
    (
        "Standard_NC64as_T4_v3",
        Some("T4"),
        4.0,
        64.0,
        440.0,
        Some(16384),
    ),
    (
        "Standard_NC6s_v3",
        Some("V100"),
        1.0,
        6.0,
        112.0,
        Some(16384),
    ),
    (
        "Standard_NC12s_v3",
        Some("V100"),
        2.0,
        12.0,
        224.0,
        Some(16384),
    ),
    (
        "Standard_NC24s_v3",
        Some("V100"),
        4.0,
        24.0,
        448.0,
        Some(16384),
    ),
    (
        "Standard_NC24ads_A100_v4",
        Some("A100-80GB"),
        1.0,
        24.0,
        220.0,
        Some(81920),
    ),
    (
        "Standard_NC48ads_A100_v4",
        Some("A100-80GB"),
        2.0,
        48.0,
        440.0,
        Some(81920),
    ),
    (
        "Standard_NC96ads_A100_v4",
        Some("A100-80GB"),
        4.0,
        96.0,
        880.0,
        Some(81920),
    ),
    (
        "Standard_NC40ads_H100_v5",
        Some("H100-NVL"),
        1.0,
        40.0,
        320.0,
        Some(96256),
    ),
    (
        "Standard_NC80adis_H100_v5",
        Some("H100-NVL"),
        2.0,
        80.0,
        640.0,
        Some(96256),
    ),
    (
        "Standard_ND96asr_v4",
        Some("A100"),
        8.0,
        96.0,
        900.0,
        Some(40960),
    ),
    (
        "Standard_ND96amsr_A100_v4",
        Some("A100-80GB"),
        8.0,
        96.0,
        1900.0,
        Some(81920),
    ),
    (
        "Standard_ND96isr_H100_v5",
        Some("H100"),
        8.0,
        96.0,
        1900.0,
        Some(81920),
    ),
    (
        "Standard_NV36ads_A10_v5",
        Some("A10"),
        1.0,
        36.0,
        440.0,
        Some(24576),
    ),
    (
        "Standard_NV72ads_A10_v5",
        Some("A10"),
        2.0,
        72.0,
        880.0,
        Some(24576),
    ),
    (
        "Standard_NV12s_v3",
        Some("M60"),
        1.0,
        12.0,
        112.0,
        Some(8192),
    ),
    ("Standard_D2s_v5", None, 0.0, 2.0, 8.0, None),
    ("Standard_D4s_v5", None, 0.0, 4.0, 16.0, None),
    ("Standard_D8s_v5", None, 0.0, 8.0, 32.0, None),
    ("Standard_D16s_v5", None, 0.0, 16.0, 64.0, None),
];

/// The regions aloft offers (Azure public regions with the GPU families above).
pub const REGIONS: &[&str] = &[
    "eastus",
    "eastus2",
    "southcentralus",
    "westus2",
    "westus3",
    "northeurope",
    "westeurope",
    "uksouth",
];

/// Whether `size` is a GPU size (images with NVIDIA drivers by default).
pub fn is_gpu(size: &str) -> bool {
    SIZES
        .iter()
        .any(|s| s.0.eq_ignore_ascii_case(size) && s.1.is_some())
        || size.starts_with("Standard_N")
}

/// One row of the Retail Prices API.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PriceRow {
    #[serde(default)]
    arm_region_name: String,
    #[serde(default)]
    arm_sku_name: String,
    #[serde(default)]
    sku_name: String,
    #[serde(default)]
    product_name: String,
    #[serde(default)]
    retail_price: f64,
    #[serde(default)]
    unit_of_measure: String,
    #[serde(default)]
    currency_code: String,
    #[serde(rename = "type", default)]
    kind: String,
}

#[derive(Deserialize)]
struct PricePage {
    #[serde(rename = "Items", default)]
    items: Vec<PriceRow>,
    #[serde(rename = "NextPageLink", default)]
    next: Option<String>,
}

/// The `$filter` for `regions` and every size in the table.
fn filter(regions: &[&str]) -> String {
    let or = |field: &str, values: &mut dyn Iterator<Item = &str>| {
        values
            .map(|v| format!("{field} eq '{v}'"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    format!(
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and ({}) and ({})",
        or("armRegionName", &mut regions.iter().copied()),
        or("armSkuName", &mut SIZES.iter().map(|s| s.0)),
    )
}

/// Catalog rows for `rows` (Linux pay-as-you-go hourly USD; spot from the
/// `Spot` meters; low-priority and Windows meters left out).
fn rows_to_offers(rows: &[PriceRow]) -> Vec<Offer> {
    let mut offers: Vec<Offer> = Vec::new();
    let usable = rows.iter().filter(|r| {
        r.kind == "Consumption"
            && r.currency_code == "USD"
            && r.unit_of_measure == "1 Hour"
            && !r.product_name.ends_with("Windows")
            && !r.sku_name.contains("Low Priority")
            && r.retail_price.is_finite()
            && r.retail_price > 0.0
    });
    for row in usable {
        let Some(size) = SIZES.iter().find(|s| s.0 == row.arm_sku_name) else {
            continue;
        };
        let spot = row.sku_name.contains("Spot");
        let at = offers
            .iter()
            .position(|o| o.instance_type == size.0 && o.region == row.arm_region_name);
        let offer = match at {
            Some(i) => &mut offers[i],
            None => {
                offers.push(Offer {
                    instance_type: size.0.to_string(),
                    accelerator_name: size.1.map(str::to_string),
                    accelerator_count: size.2,
                    vcpus: size.3,
                    memory_gib: size.4,
                    gpu_memory_mib: size.5,
                    price: None,
                    spot_price: None,
                    region: row.arm_region_name.clone(),
                    zone: None,
                });
                let last = offers.len() - 1;
                &mut offers[last]
            }
        };
        if spot {
            offer.spot_price = Some(row.retail_price);
        } else {
            offer.price = Some(row.retail_price);
        }
    }
    // A spot meter alone is no offer: aloft needs the on-demand price too.
    offers.retain(|o| o.price.is_some());
    offers
}

/// Catalog rows for `region` (or every region aloft offers), priced live.
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    let regions: Vec<&str> = match region {
        Some(r) => vec![r],
        None => REGIONS.to_vec(),
    };
    let mut url = Some(format!(
        "{PRICES}?api-version=2023-01-01-preview&$filter={}",
        uri_encode(&filter(&regions))
    ));
    let mut rows = Vec::new();
    let mut pages = 0;
    while let Some(u) = url.take() {
        let response = Request::get(&u)
            .header("accept", "application/json")
            .send()?;
        if !(200..300).contains(&response.status) {
            return Err(errors::transient(
                "PricesUnavailable",
                &format!(
                    "Azure's Retail Prices API answered HTTP {}",
                    response.status
                ),
            ));
        }
        let page: PricePage = response.json()?;
        rows.extend(page.items);
        pages += 1;
        url = page.next.filter(|n| n.starts_with(PRICES) && pages < 20);
    }
    Ok(rows_to_offers(&rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retail_rows_become_linux_offers_with_spot_prices() {
        let page: PricePage = serde_json::from_str(
            r#"{"Items":[
              {"currencyCode":"USD","retailPrice":3.673,"armRegionName":"eastus","armSkuName":"Standard_NC24ads_A100_v4","skuName":"NC24ads A100 v4","productName":"Virtual Machines NCadsA100v4 Series","unitOfMeasure":"1 Hour","type":"Consumption"},
              {"currencyCode":"USD","retailPrice":0.9,"armRegionName":"eastus","armSkuName":"Standard_NC24ads_A100_v4","skuName":"NC24ads A100 v4 Spot","productName":"Virtual Machines NCadsA100v4 Series","unitOfMeasure":"1 Hour","type":"Consumption"},
              {"currencyCode":"USD","retailPrice":4.5,"armRegionName":"eastus","armSkuName":"Standard_NC24ads_A100_v4","skuName":"NC24ads A100 v4","productName":"Virtual Machines NCadsA100v4 Series Windows","unitOfMeasure":"1 Hour","type":"Consumption"},
              {"currencyCode":"USD","retailPrice":0.7,"armRegionName":"eastus","armSkuName":"Standard_NC24ads_A100_v4","skuName":"NC24ads A100 v4 Low Priority","productName":"Virtual Machines NCadsA100v4 Series","unitOfMeasure":"1 Hour","type":"Consumption"},
              {"currencyCode":"USD","retailPrice":0.5,"armRegionName":"westus2","armSkuName":"Standard_NC6s_v3","skuName":"NC6s v3 Spot","productName":"Virtual Machines NCSv3 Series","unitOfMeasure":"1 Hour","type":"Consumption"},
              {"currencyCode":"USD","retailPrice":1.0,"armRegionName":"eastus","armSkuName":"Standard_Unknown","skuName":"x","productName":"y","unitOfMeasure":"1 Hour","type":"Consumption"}
            ],"NextPageLink":null,"Count":6}"#,
        )
        .unwrap();
        let offers = rows_to_offers(&page.items);
        assert_eq!(offers.len(), 1, "{:?}", offers.len());
        let o = &offers[0];
        assert_eq!(o.instance_type, "Standard_NC24ads_A100_v4");
        assert_eq!(o.accelerator_name.as_deref(), Some("A100-80GB"));
        assert_eq!(o.price, Some(3.673));
        assert_eq!(o.spot_price, Some(0.9));
        assert_eq!(o.region, "eastus");
        assert!(filter(&["eastus"]).contains("armSkuName eq 'Standard_ND96isr_H100_v5'"));
        assert!(is_gpu("Standard_NC6s_v3") && !is_gpu("Standard_D2s_v5"));
    }
}
