//! Building a [`Problem`] from a constraint spec (JSON/TOML via serde) and a candidates CSV,
//! so a CLI command is a parse, [`load_csv`], [`crate::optimize`] and a print.

use std::collections::HashMap;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::error::ProblemError;
use crate::problem::{
    Campaign, CampaignId, Candidate, Channel, ChannelId, Offer, OfferId, Problem,
};

/// The constraints of a run. Offers met in the CSV but not listed here get no bounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProblemSpec {
    pub max_offers_per_customer: u32,
    #[serde(default)]
    pub one_per_campaign: bool,
    pub channels: Vec<Channel>,
    pub campaigns: Vec<Campaign>,
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// Reads `customer_id,campaign,offer,channel,value,cost` rows (with that header, any column
/// order). A customer's rows must be contiguous, as a `GROUP BY`/`ORDER BY` export gives them.
pub fn load_csv<R: Read>(spec: &ProblemSpec, input: R) -> Result<Problem, ProblemError> {
    let mut p = Problem::new(spec.max_offers_per_customer)?;
    p.set_one_per_campaign(spec.one_per_campaign);
    let mut channels = HashMap::new();
    for c in &spec.channels {
        channels.insert(c.name.clone(), p.add_channel(c.name.clone(), c.capacity)?);
    }
    let mut campaigns = HashMap::new();
    for c in &spec.campaigns {
        campaigns.insert(c.name.clone(), p.add_campaign(c.name.clone(), c.budget)?);
    }
    let mut offers: HashMap<String, OfferId> = HashMap::new();
    for o in &spec.offers {
        offers.insert(o.name.clone(), p.add_offer(o.name.clone(), o.min, o.max)?);
    }

    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| ProblemError::Csv(e.to_string()))?
        .clone();
    let col = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| ProblemError::Input {
            line: 1,
            message: format!("missing column {name:?}; the header must have customer_id,campaign,offer,channel,value,cost"),
        })
    };
    let (ci, cc, co, ch, cv, cw) = (
        col("customer_id")?,
        col("campaign")?,
        col("offer")?,
        col("channel")?,
        col("value")?,
        col("cost")?,
    );
    let mut current: Option<String> = None;
    let mut cands: Vec<Candidate> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| ProblemError::Csv(e.to_string()))?;
        let line = record.position().map_or(0, |pos| pos.line());
        let customer = if more {
            Some(record.get(ci).unwrap_or(""))
        } else {
            None
        };
        if current.as_deref() != customer
            && let Some(prev) = current.take()
        {
            p.add_customer(&prev, &cands).map_err(|e| match e {
                ProblemError::DuplicateCustomer { customer } => ProblemError::Input {
                    line,
                    message: format!("rows of customer {customer:?} are not contiguous; sort the file by customer_id"),
                },
                other => other,
            })?;
            cands.clear();
        }
        let Some(customer) = customer else { break };
        if customer.is_empty() {
            return Err(ProblemError::Input {
                line,
                message: "empty customer_id".into(),
            });
        }
        if current.is_none() {
            current = Some(customer.to_string());
        }
        let field = |k: usize| record.get(k).unwrap_or("");
        let channel: ChannelId = *channels.get(field(ch)).ok_or_else(|| ProblemError::Input {
            line,
            message: format!(
                "channel {:?} is not in the spec; add it under channels",
                field(ch)
            ),
        })?;
        let campaign: CampaignId =
            *campaigns
                .get(field(cc))
                .ok_or_else(|| ProblemError::Input {
                    line,
                    message: format!(
                        "campaign {:?} is not in the spec; add it under campaigns",
                        field(cc)
                    ),
                })?;
        let offer = match offers.get(field(co)) {
            Some(&o) => o,
            None => {
                let o = p.add_offer(field(co), 0, None)?;
                offers.insert(field(co).to_string(), o);
                o
            }
        };
        let number = |k: usize, name: &str| {
            field(k).parse::<f64>().map_err(|_| ProblemError::Input {
                line,
                message: format!("{name} {:?} is not a number", field(k)),
            })
        };
        cands.push(Candidate {
            campaign,
            offer,
            channel,
            value: number(cv, "value")?,
            cost: number(cw, "cost")?,
        });
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ProblemSpec {
        serde_json::from_str(
            r#"{"max_offers_per_customer": 1,
                "channels": [{"name": "sms", "capacity": 1}],
                "campaigns": [{"name": "card", "budget": 10.0}],
                "offers": [{"name": "gold", "max": 5}]}"#,
        )
        .expect("spec parses")
    }

    #[test]
    fn loads_grouped_rows_and_auto_adds_offers() {
        let csv = "customer_id,campaign,offer,channel,value,cost\n\
                   a,card,gold,sms,5,1\na,card,silver,sms,3,1\nb,card,gold,sms,4,1\n";
        let p = load_csv(&spec(), csv.as_bytes()).expect("loads");
        assert_eq!(p.customer_count(), 2);
        assert_eq!(p.candidate_count(), 3);
        assert_eq!(p.offers().len(), 2);
        assert_eq!(p.customer_id(1), "b");
    }

    #[test]
    fn rejects_split_customer_and_unknown_channel() {
        let split = "customer_id,campaign,offer,channel,value,cost\na,card,gold,sms,5,1\nb,card,gold,sms,4,1\na,card,gold,sms,1,1\n";
        let err = load_csv(&spec(), split.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("not contiguous"), "{err}");
        let unknown = "customer_id,campaign,offer,channel,value,cost\na,card,gold,fax,5,1\n";
        let err = load_csv(&spec(), unknown.as_bytes()).unwrap_err();
        assert!(
            err.to_string().contains("\"fax\" is not in the spec"),
            "{err}"
        );
    }
}
