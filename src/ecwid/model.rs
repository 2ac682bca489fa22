//! The parts of Ecwid documents the mirror puts in typed columns.
//!
//! Every type borrows from the response text and keeps each entity's own JSON as a
//! `&RawValue`, so the mirror stores exactly what Ecwid sent (`raw_json`) without
//! re-serializing, and fields this model does not know are never lost. Parsing is tolerant:
//! every field but the id is optional, because Ecwid omits fields freely (`quantity` when
//! stock is unlimited, `compareToPrice` when not set, `name` on some customers).

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::kind::Kind;

/// The envelope of every search endpoint.
#[derive(Debug, Deserialize)]
pub struct Page<'a> {
    pub total: u64,
    pub count: u64,
    /// Absent when `responseFields` did not name it.
    #[serde(default)]
    pub offset: u64,
    #[serde(default)]
    pub limit: u64,
    #[serde(borrow)]
    pub items: Vec<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product<'a> {
    pub id: i64,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub price: Option<f64>,
    pub compare_to_price: Option<f64>,
    pub quantity: Option<i64>,
    pub unlimited: Option<bool>,
    pub in_stock: Option<bool>,
    pub enabled: Option<bool>,
    pub weight: Option<f64>,
    pub default_category_id: Option<i64>,
    pub create_timestamp: Option<i64>,
    pub update_timestamp: Option<i64>,
    pub category_ids: Option<Vec<i64>>,
    /// The product's options with their choices, whose price modifiers price variations
    /// that have no price of their own. Kept unparsed: most products never need them, and a
    /// full pull reads a hundred thousand.
    #[serde(borrow)]
    pub options: Option<&'a RawValue>,
    #[serde(borrow)]
    pub combinations: Option<Vec<&'a RawValue>>,
}

#[derive(Debug, Deserialize)]
pub struct ProductOption {
    pub name: Option<String>,
    #[serde(default)]
    pub choices: Vec<OptionChoice>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OptionChoice {
    pub text: Option<String>,
    pub price_modifier: Option<f64>,
    /// `ABSOLUTE` (the default) or `PERCENT` of the product's price.
    pub price_modifier_type: Option<String>,
}

/// One option a variation is made of: `{"name": "Size", "value": "Large"}`.
#[derive(Debug, Deserialize)]
pub struct SelectedOption {
    pub name: Option<String>,
    pub value: Option<String>,
}

/// A product variation ("combination" in the API).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Variation<'a> {
    pub id: i64,
    pub sku: Option<String>,
    pub quantity: Option<i64>,
    pub unlimited: Option<bool>,
    pub price: Option<f64>,
    #[serde(borrow)]
    pub options: Option<&'a RawValue>,
}

impl Product<'_> {
    /// What a variation without a price of its own sells at: the product's price plus the
    /// modifiers of the option choices that make the variation (contract 17.6). `None` when
    /// the product has no price; an error when its options do not fit the model.
    pub fn price_with_options(
        &self,
        selected: &[SelectedOption],
    ) -> Result<Option<f64>, serde_json::Error> {
        let Some(base) = self.price else {
            return Ok(None);
        };
        let options: Vec<ProductOption> = match self.options {
            Some(raw) => serde_json::from_str(raw.get())?,
            None => Vec::new(),
        };
        let mut price = base;
        for pick in selected {
            let choice = options
                .iter()
                .filter(|o| o.name.is_some() && o.name == pick.name)
                .flat_map(|o| &o.choices)
                .find(|c| c.text.is_some() && c.text == pick.value);
            let Some(choice) = choice else { continue };
            let modifier = choice.price_modifier.unwrap_or(0.0);
            price += match choice.price_modifier_type.as_deref() {
                Some("PERCENT") => base * modifier / 100.0,
                _ => modifier,
            };
        }
        // Cents, as the storefront shows it; without this, 10% of 19.99 leaves float noise.
        Ok(Some((price * 100.0).round() / 100.0))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    pub id: i64,
    pub parent_id: Option<i64>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub order_by: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order<'a> {
    /// Deprecated since 2020; on current stores it equals `internalId`, and it may be absent.
    pub order_number: Option<i64>,
    pub internal_id: Option<i64>,
    /// The public string id (`"K8XTQ"`), what API paths take. Older payloads send none or a
    /// number, so it is kept as JSON here.
    #[serde(borrow)]
    pub id: Option<&'a RawValue>,
    pub email: Option<String>,
    pub customer_id: Option<i64>,
    pub payment_status: Option<String>,
    pub fulfillment_status: Option<String>,
    pub total: Option<f64>,
    pub subtotal: Option<f64>,
    pub tax: Option<f64>,
    pub tracking_number: Option<String>,
    pub create_timestamp: Option<i64>,
    pub update_timestamp: Option<i64>,
    pub hidden: Option<bool>,
    #[serde(borrow, default)]
    pub items: Vec<OrderItem<'a>>,
}

impl Order<'_> {
    /// The mirror's integer key: `internalId`, or `orderNumber` where a payload has only that.
    pub fn key(&self) -> Option<i64> {
        self.internal_id.or(self.order_number)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem<'a> {
    pub id: Option<i64>,
    pub product_id: Option<i64>,
    /// The variation sold (sent since 2023).
    pub combination_id: Option<i64>,
    pub sku: Option<String>,
    pub name: Option<String>,
    pub quantity: Option<i64>,
    pub price: Option<f64>,
    #[serde(borrow)]
    pub selected_options: Option<&'a RawValue>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer {
    pub id: i64,
    pub email: Option<String>,
    pub name: Option<String>,
    /// Customers carry only date strings, no integer timestamps.
    pub updated: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LatestStats {
    pub products_updated: Option<String>,
    pub categories_updated: Option<String>,
    pub orders_updated: Option<String>,
    pub customers_updated: Option<String>,
    /// Sent when asked for with `productCountRequired=true`. Ecwid's Java SDK reads it as
    /// `productCount`, the REST reference's field table names it after the parameter: both
    /// are read, since a store answering under the name not read would silently skip the
    /// count check. Separate fields, not a serde alias, so an answer with both still parses.
    product_count: Option<u64>,
    product_count_required: Option<u64>,
    /// Sent when asked for with `categoryCountRequired=true`; named either way, as above.
    category_count: Option<u64>,
    category_count_required: Option<u64>,
}

impl LatestStats {
    /// All products, enabled or not, under whichever name the store used.
    pub fn product_count(&self) -> Option<u64> {
        self.product_count.or(self.product_count_required)
    }

    /// All categories, under whichever name the store used.
    pub fn category_count(&self) -> Option<u64> {
        self.category_count.or(self.category_count_required)
    }

    /// The "last changed" date of `kind`.
    pub fn marker_of(&self, kind: Kind) -> Option<&str> {
        match kind {
            Kind::Products => self.products_updated.as_deref(),
            Kind::Categories => self.categories_updated.as_deref(),
            Kind::Orders => self.orders_updated.as_deref(),
            Kind::Customers => self.customers_updated.as_deref(),
        }
    }

    /// The entity count of `kind`, where Ecwid sends one.
    pub fn count_of(&self, kind: Kind) -> Option<u64> {
        match kind {
            Kind::Products => self.product_count(),
            Kind::Categories => self.category_count(),
            Kind::Orders | Kind::Customers => None,
        }
    }
}

/// One entry of a `*/deleted` listing: product id, order internal id (with the string
/// `orderId` beside it) or customer id.
#[derive(Debug, Deserialize)]
pub struct DeletedItem {
    pub id: i64,
    pub date: String,
}

/// One request inside a batch.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BatchRequest {
    /// Names the request in the batch's status.
    pub id: String,
    /// Relative to the store, with its query: `/products/7/inventory`.
    pub path: String,
    pub method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
}

/// The answer of a single-entity write (`{"updateCount":1}` and friends).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WriteResult {
    pub update_count: Option<i64>,
    pub delete_count: Option<i64>,
    pub id: Option<i64>,
    pub warning: Option<String>,
}

/// The error body Ecwid sends with most 4xx/5xx answers. The batch docs spell the key in
/// snake case, so both are read.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(rename = "errorMessage", alias = "error_message")]
    pub error_message: Option<String>,
    #[serde(rename = "errorCode")]
    pub error_code: Option<String>,
}

/// The answer to `POST /batch`.
#[derive(Debug, Deserialize)]
pub struct BatchTicket {
    pub ticket: String,
}

/// The answer to `GET /batch?ticket=`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchStatus {
    /// `QUEUED`, `IN_PROGRESS` or `COMPLETED`.
    pub status: String,
    pub total_requests: Option<u64>,
    pub completed_requests: Option<u64>,
    #[serde(default)]
    pub responses: Vec<BatchResponse>,
}

impl BatchStatus {
    pub fn is_completed(&self) -> bool {
        self.status == "COMPLETED"
    }

    /// The response to the request named `id`.
    pub fn response(&self, id: &str) -> Option<&BatchResponse> {
        self.responses.iter().find(|r| r.id.as_deref() == Some(id))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    pub id: Option<String>,
    /// `COMPLETED`, `FAILED` or `NOT_EXECUTED`.
    pub status: String,
    /// The docs' template calls it `httpCode`.
    #[serde(alias = "httpCode")]
    pub http_status_code: Option<u16>,
    pub http_body: Option<Box<RawValue>>,
    /// The body as a JSON string, when the status was read with `escapedJson=true`.
    pub escaped_http_body: Option<String>,
}

/// The OAuth code exchange's answer. The token is wrapped at once so it cannot be printed.
#[derive(Debug, Deserialize)]
pub struct OAuthToken {
    pub access_token: crate::config::Secret,
    pub token_type: String,
    pub scope: String,
    pub store_id: i64,
    pub public_token: Option<crate::config::Secret>,
}

/// Parses Ecwid's date strings (`2015-10-05 07:26:14 +0000`, offsets vary) into unix seconds.
pub fn parse_date(text: &str) -> Option<i64> {
    use time::macros::format_description;
    let with_offset = format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory][offset_minute]"
    );
    if let Ok(t) = time::OffsetDateTime::parse(text.trim(), with_offset) {
        return Some(t.unix_timestamp());
    }
    let naive = format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text.trim(), naive)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dates_with_any_offset() {
        assert_eq!(parse_date("1970-01-01 00:00:10 +0000"), Some(10));
        assert_eq!(parse_date("1970-01-01 04:00:10 +0400"), Some(10));
        assert_eq!(parse_date("1970-01-01 00:00:10"), Some(10));
        assert_eq!(parse_date("yesterday"), None);
    }
}
