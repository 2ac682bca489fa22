//! One exposition for every store's metrics.
//!
//! Each store keeps its own registry (its `store` label is a constant of that registry), so
//! the same metric family is encoded once per store. The text format allows a family's
//! `# HELP` and `# TYPE` lines only once, with all its samples after them: Prometheus refuses
//! a scrape that repeats them. The stores' texts are therefore joined family by family.

use super::Metrics;

/// Every family of `stores`, each under one header with the samples of all stores, in the
/// order the first store lists them, then `# EOF`.
pub fn encode_all<'a>(stores: impl IntoIterator<Item = &'a Metrics>) -> String {
    let texts: Vec<String> = stores.into_iter().map(Metrics::encode_families).collect();
    join_families(texts.iter().map(String::as_str))
}

/// A family as encoded: its header lines (`# HELP`, `# TYPE`, `# UNIT`) and its samples.
struct Family<'t> {
    name: &'t str,
    header: Vec<&'t str>,
    samples: Vec<&'t str>,
}

fn join_families<'t>(texts: impl IntoIterator<Item = &'t str>) -> String {
    let mut families: Vec<Family<'t>> = Vec::new();
    for text in texts {
        // Where the family being read sits in `families`.
        let mut current: Option<usize> = None;
        for line in text.lines().filter(|l| !l.is_empty() && *l != "# EOF") {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap_or(rest);
                current = Some(match families.iter().position(|f| f.name == name) {
                    Some(index) => index,
                    None => {
                        families.push(Family {
                            name,
                            header: vec![line],
                            samples: Vec::new(),
                        });
                        families.len() - 1
                    }
                });
                continue;
            }
            let Some(index) = current else {
                // The encoder writes a HELP line before every family; keep anything else
                // rather than lose it.
                families.push(Family {
                    name: "",
                    header: Vec::new(),
                    samples: vec![line],
                });
                continue;
            };
            let family = &mut families[index];
            if line.starts_with("# ") {
                // The header of a family seen in an earlier store's text is already there.
                if family.samples.is_empty() && !family.header.contains(&line) {
                    family.header.push(line);
                }
            } else {
                family.samples.push(line);
            }
        }
    }
    let mut out = String::new();
    for family in &families {
        for line in family.header.iter().chain(&family.samples) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::RejectReason;

    #[test]
    fn two_stores_share_each_family_header_and_keep_their_own_samples() {
        let a = Metrics::for_store("north", Default::default());
        let b = Metrics::for_store("south", Default::default());
        a.webhooks.received.inc();
        b.webhooks.reject(RejectReason::BadSignature);
        let text = encode_all([a.as_ref(), b.as_ref()]);
        assert_eq!(
            text.matches("# HELP ecwid_sync_webhooks_received ").count(),
            1,
            "{text}"
        );
        assert_eq!(
            text.matches("# TYPE ").count(),
            text.matches("# HELP ").count()
        );
        assert!(
            text.contains("ecwid_sync_webhooks_received_total{store=\"north\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("ecwid_sync_webhooks_received_total{store=\"south\"} 0\n"),
            "{text}"
        );
        assert!(text.contains(
            "ecwid_sync_webhooks_rejected_total{store=\"south\",reason=\"bad_signature\"} 1\n"
        ));
        // The samples of one family follow its header, the stores' one after the other.
        let header = text.find("# HELP ecwid_sync_webhooks_received ").unwrap();
        let north = text
            .find("webhooks_received_total{store=\"north\"}")
            .unwrap();
        let south = text
            .find("webhooks_received_total{store=\"south\"}")
            .unwrap();
        let next = text[header + 1..].find("# HELP ").unwrap() + header + 1;
        assert!(header < north && north < south && south < next, "{text}");
        assert!(text.ends_with("# EOF\n") && text.matches("# EOF").count() == 1);
    }

    #[test]
    fn every_sample_has_a_store_label() {
        let a = Metrics::for_store("north", Default::default());
        let text = encode_all([a.as_ref()]);
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains("store=\"north\""), "{line}");
        }
    }
}
