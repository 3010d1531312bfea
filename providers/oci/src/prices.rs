//! OCI's list prices, live from Oracle's public price list (the Cost Estimator's
//! API, `https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/`, no
//! credentials; documented on docs.oracle.com under "Accessing List Pricing").
//! One request per part number of [`model::SHAPES`]; each answer lists the part
//! with its prices per currency, and the `PAY_AS_YOU_GO` USD price of its first
//! tier is the price of one GPU hour.
//!
//! What the price list answers is checked before it becomes a catalog row: only
//! the asked part, metered per GPU hour, with a finite price above zero (Oracle
//! lists free-tier-only parts at 0).

use std::collections::BTreeMap;

use aloft_provider_sdk::http::Request;
use aloft_provider_sdk::types::{Offer, ProviderError};
use aloft_provider_sdk::{errors, signing::uri_encode};
use serde::Deserialize;

use crate::model;

/// The price list's host, for the manifest.
pub const PRICES_HOST: &str = "apexapps.oracle.com";
const PRICES: &str = "https://apexapps.oracle.com/pls/apex/cetools/api/v1/products/";
/// The metric GPU shapes are billed by.
const GPU_HOUR: &str = "GPU Per Hour";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Tier {
    #[serde(default)]
    model: String,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    range_min: Option<f64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Localization {
    #[serde(default)]
    currency_code: String,
    #[serde(default)]
    prices: Vec<Tier>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    #[serde(default)]
    part_number: String,
    #[serde(default)]
    metric_name: String,
    #[serde(default)]
    currency_code_localizations: Vec<Localization>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    items: Vec<Item>,
}

/// The USD price of one GPU hour of `part`, from one price-list answer.
fn gpu_hour_price(items: &[Item], part: &str) -> Option<f64> {
    let item = items
        .iter()
        .find(|i| i.part_number == part && i.metric_name == GPU_HOUR)?;
    let usd = item
        .currency_code_localizations
        .iter()
        .find(|l| l.currency_code == "USD")?;
    usd.prices
        .iter()
        .filter(|t| t.model == "PAY_AS_YOU_GO")
        .min_by(|a, b| {
            let (a, b) = (a.range_min.unwrap_or(0.0), b.range_min.unwrap_or(0.0));
            a.total_cmp(&b)
        })?
        .value
        .filter(|v| v.is_finite() && *v > 0.0)
}

/// USD per GPU hour for every part of [`model::SHAPES`] the price list prices.
pub fn gpu_hour_prices() -> Result<BTreeMap<String, f64>, ProviderError> {
    let mut prices = BTreeMap::new();
    for part in model::price_parts() {
        let url = format!("{PRICES}?partNumber={}&currencyCode=USD", uri_encode(part));
        let response = Request::get(&url)
            .header("accept", "application/json")
            .send()?;
        if !(200..300).contains(&response.status) {
            return Err(errors::transient(
                "PricesUnavailable",
                &format!("Oracle's price list answered HTTP {}", response.status),
            ));
        }
        let page: Page = response.json()?;
        if let Some(price) = gpu_hour_price(&page.items, part) {
            prices.insert(part.to_string(), price);
        }
    }
    if prices.is_empty() {
        return Err(errors::transient(
            "PricesUnavailable",
            "Oracle's price list gave no USD pay-as-you-go GPU-hour price for any GPU shape",
        ));
    }
    Ok(prices)
}

/// Catalog rows for `region` (or every region aloft offers), priced live.
pub fn offers(region: Option<&str>) -> Result<Vec<Offer>, ProviderError> {
    Ok(model::offers(region, &gpu_hour_prices()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(json: &str) -> Vec<Item> {
        serde_json::from_str::<Page>(json).unwrap().items
    }

    #[test]
    fn the_first_pay_as_you_go_usd_tier_of_the_asked_gpu_hour_part_is_its_price() {
        let items = page(
            r#"{"lastUpdated":"2026-08-14T09:09:55.872Z","items":[
            {"partNumber":"B98415","displayName":"OCI - Compute - GPU - H100",
             "metricName":"GPU Per Hour","serviceCategory":"Compute - GPU",
             "currencyCodeLocalizations":[
               {"currencyCode":"EUR","prices":[{"model":"PAY_AS_YOU_GO","value":9.5}]},
               {"currencyCode":"USD","prices":[
                 {"model":"PAY_AS_YOU_GO","value":9.0,"rangeMin":100,"rangeMax":999999},
                 {"model":"PAY_AS_YOU_GO","value":10.0,"rangeMin":0,"rangeMax":100}]}]}]}"#,
        );
        assert_eq!(gpu_hour_price(&items, "B98415"), Some(10.0));
        assert_eq!(gpu_hour_price(&items, "B95909"), None);
    }

    #[test]
    fn other_metrics_free_parts_and_nonsense_are_no_price() {
        let other_metric = page(
            r#"{"items":[{"partNumber":"B95909","metricName":"OCPU Per Hour",
            "currencyCodeLocalizations":[{"currencyCode":"USD","prices":[{"model":"PAY_AS_YOU_GO","value":2}]}]}]}"#,
        );
        assert_eq!(gpu_hour_price(&other_metric, "B95909"), None);
        let free = page(
            r#"{"items":[{"partNumber":"B95909","metricName":"GPU Per Hour",
            "currencyCodeLocalizations":[{"currencyCode":"USD","prices":[{"model":"PAY_AS_YOU_GO","value":0}]}]}]}"#,
        );
        assert_eq!(gpu_hour_price(&free, "B95909"), None);
        let negative = page(
            r#"{"items":[{"partNumber":"B95909","metricName":"GPU Per Hour",
            "currencyCodeLocalizations":[{"currencyCode":"USD","prices":[{"model":"PAY_AS_YOU_GO","value":-1}]}]}]}"#,
        );
        assert_eq!(gpu_hour_price(&negative, "B95909"), None);
        let no_usd = page(
            r#"{"items":[{"partNumber":"B95909","metricName":"GPU Per Hour",
            "currencyCodeLocalizations":[{"currencyCode":"GBP","prices":[{"model":"PAY_AS_YOU_GO","value":2}]}]}]}"#,
        );
        assert_eq!(gpu_hour_price(&no_usd, "B95909"), None);
    }
}
