//! `[privacy]`: what the mirror blanks in the orders of a customer who asked to be erased.

use serde::{Deserialize, Serialize};

use super::{ConfigError, invalid};

/// Top-level fields of an order document that identify the person, blanked by default.
/// What accounting must keep (lines, totals, dates, tax, statuses, the customer id) stays:
/// which fields a shop must keep is its own legal question, hence the setting.
pub const DEFAULT_ORDER_FIELDS: [&str; 8] = [
    "email",
    "ipAddress",
    "billingPerson",
    "shippingPerson",
    "orderComments",
    "privateAdminNotes",
    "customerTaxId",
    "orderExtraFields",
];

/// Fields the mirror keys and orders orders by: blanking them would lose the order itself.
const KEY_FIELDS: [&str; 4] = ["id", "internalId", "orderNumber", "updateTimestamp"];

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PrivacyConfig {
    /// Top-level order document fields removed from `raw_json` (and so from the columns
    /// derived from them) for erased customers.
    pub order_fields: Vec<String>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        RawPrivacy::default()
            .validate()
            .expect("the defaults are valid")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrivacy {
    order_fields: Option<Vec<String>>,
}

impl RawPrivacy {
    pub(super) fn validate(self) -> Result<PrivacyConfig, ConfigError> {
        let Some(fields) = self.order_fields else {
            return Ok(PrivacyConfig {
                order_fields: DEFAULT_ORDER_FIELDS.map(str::to_string).to_vec(),
            });
        };
        for field in &fields {
            if field.is_empty() || !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(invalid(
                    "privacy.order_fields",
                    format!(
                        "{field:?} is not a field name of an order document (letters, digits and _, as in \"billingPerson\")"
                    ),
                ));
            }
            if KEY_FIELDS.contains(&field.as_str()) {
                return Err(invalid(
                    "privacy.order_fields",
                    format!(
                        "{field:?} keys the order in the mirror and cannot be blanked; the fields that cannot are {}",
                        KEY_FIELDS.join(", ")
                    ),
                ));
            }
        }
        Ok(PrivacyConfig {
            order_fields: fields,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(fields: &[&str]) -> Result<PrivacyConfig, ConfigError> {
        RawPrivacy {
            order_fields: Some(fields.iter().map(|f| f.to_string()).collect()),
        }
        .validate()
    }

    #[test]
    fn the_default_blanks_who_the_person_is_and_keeps_the_accounts() {
        let fields = PrivacyConfig::default().order_fields;
        for personal in ["email", "billingPerson", "shippingPerson", "ipAddress"] {
            assert!(fields.iter().any(|f| f == personal), "{personal}");
        }
        for kept in ["items", "total", "tax", "createTimestamp", "customerId"] {
            assert!(!fields.iter().any(|f| f == kept), "{kept}");
        }
    }

    #[test]
    fn a_key_field_or_a_name_that_is_no_field_is_refused_by_name() {
        let err = parse(&["email", "internalId"]).unwrap_err().to_string();
        assert!(
            err.starts_with("privacy.order_fields: \"internalId\""),
            "{err}"
        );
        let err = parse(&["billing.person"]).unwrap_err().to_string();
        assert!(
            err.contains("\"billing.person\" is not a field name"),
            "{err}"
        );
        assert_eq!(parse(&[]).unwrap().order_fields, Vec::<String>::new());
    }
}
