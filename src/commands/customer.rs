//! `ecwid-sync customer ...` and the privacy line in `status`.

use std::path::Path;

use super::outbox::mirror_path;
use super::{CommandError, emit, fmt_time};
use crate::cli::CustomerAction;
use crate::mirror::customer_export;
use crate::mirror::privacy::PrivacyStatus;
use crate::mirror::{self, MirrorError};

pub fn execute(
    config: &Path,
    store: Option<&str>,
    action: CustomerAction,
) -> Result<(), CommandError> {
    match action {
        CustomerAction::Export { customer, mirror } => {
            if customer.trim().is_empty() {
                return Err(CommandError::usage(
                    "customer export: name the customer by id or email",
                ));
            }
            let conn = mirror::open_read_only(&mirror_path(config, store, mirror)?)?;
            let export =
                customer_export::export_customer(&conn, &customer).map_err(MirrorError::from)?;
            let Some(export) = export else {
                return Err(CommandError::usage(format!(
                    "customer export: the mirror holds no customer or order for {:?} (an id, or an email as the store has it)",
                    customer.trim()
                )));
            };
            let text = serde_json::to_string_pretty(&export).expect("the export serializes");
            emit(&format!("{text}\n"));
            Ok(())
        }
    }
}

pub(super) fn print_status(out: &mut String, p: &PrivacyStatus) {
    let requests: Vec<String> = p
        .requests
        .iter()
        .map(|(name, n)| format!("{} {n}", name.replace('_', " ")))
        .collect();
    outln!(
        out,
        "privacy requests: {}; customers erased: {}; last request {}",
        requests.join(", "),
        p.customers_erased,
        match p.last_request_at {
            Some(at) => fmt_time(Some(at)),
            None => "never".to_string(),
        }
    );
}
