//! The optimisation problem: channels, campaigns, offers, and customers with their eligible
//! (campaign, offer, channel) candidates in a compact CSR layout.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use crate::error::ProblemError;

/// Index of a channel in [`Problem::channels`] (at most 256 channels, stored as one byte).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChannelId(pub u16);

/// Index of a campaign in [`Problem::campaigns`] (at most 65 536 campaigns).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CampaignId(pub u16);

/// Index of an offer in [`Problem::offers`] (at most 65 536 offers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OfferId(pub u16);

/// A contact channel; `capacity` is the number of contacts it can take in the run
/// (e.g. call-centre calls), `None` for unlimited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Channel {
    pub name: String,
    pub capacity: Option<u64>,
}

/// A campaign; `budget` caps the sum of the costs of its assignments, `None` for unlimited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Campaign {
    pub name: String,
    pub budget: Option<f64>,
}

/// An offer with optional lower and upper bounds on how many customers receive it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub name: String,
    #[serde(default)]
    pub min: u64,
    #[serde(default)]
    pub max: Option<u64>,
}

/// One eligible (campaign, offer, channel) triple for a customer, as given by the caller.
///
/// `value` is the expected value of making it (propensity × value − cost, in the same
/// currency unit as `cost`); candidates with `value <= 0` can never improve the objective
/// and are dropped when the customer is added. `cost` counts against the campaign budget.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub campaign: CampaignId,
    pub offer: OfferId,
    pub channel: ChannelId,
    pub value: f64,
    pub cost: f64,
}

/// A stored candidate, read back from the problem. Values and costs are stored as `f32`
/// (7 significant digits) to keep 20M candidates in ~260 MB; every sum is taken in `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StoredCandidate {
    pub campaign: CampaignId,
    pub offer: OfferId,
    pub channel: ChannelId,
    pub value: f64,
    pub cost: f64,
}

/// The batch optimisation problem. Build it with [`Problem::new`], the `add_*` methods and
/// [`Problem::add_customer`]; then call [`crate::optimize`].
///
/// Candidates live in flat arrays indexed by customer offsets (CSR), sorted by campaign
/// within each customer so the "one offer per campaign" rule is a scan over runs.
#[derive(Clone, Debug)]
pub struct Problem {
    pub(crate) channels: Vec<Channel>,
    pub(crate) campaigns: Vec<Campaign>,
    pub(crate) offers: Vec<Offer>,
    pub(crate) max_per_customer: u8,
    pub(crate) one_per_campaign: bool,
    id_bytes: String,
    id_ends: Vec<u64>,
    id_index: HashMap<u64, u32>,
    pub(crate) caps: Vec<u8>,
    pub(crate) offsets: Vec<u32>,
    pub(crate) value: Vec<f32>,
    pub(crate) cost: Vec<f32>,
    pub(crate) channel: Vec<u8>,
    pub(crate) campaign: Vec<u16>,
    pub(crate) offer: Vec<u16>,
    dropped: u64,
}

impl Problem {
    /// A problem where every customer receives at most `max_offers_per_customer` offers
    /// across all campaigns (the contact-fatigue cap), 1..=255.
    pub fn new(max_offers_per_customer: u32) -> Result<Self, ProblemError> {
        let cap = check_cap(max_offers_per_customer)?;
        Ok(Problem {
            channels: Vec::new(),
            campaigns: Vec::new(),
            offers: Vec::new(),
            max_per_customer: cap,
            one_per_campaign: false,
            id_bytes: String::new(),
            id_ends: Vec::new(),
            id_index: HashMap::new(),
            caps: Vec::new(),
            offsets: vec![0],
            value: Vec::new(),
            cost: Vec::new(),
            channel: Vec::new(),
            campaign: Vec::new(),
            offer: Vec::new(),
            dropped: 0,
        })
    }

    /// Reserves room for `customers` customers and `candidates` candidates, so a 1M × 20
    /// build does not reallocate its 20M-element arrays.
    pub fn reserve(&mut self, customers: usize, candidates: usize) {
        self.caps.reserve(customers);
        self.offsets.reserve(customers);
        self.id_ends.reserve(customers);
        self.id_index.reserve(customers);
        self.value.reserve(candidates);
        self.cost.reserve(candidates);
        self.channel.reserve(candidates);
        self.campaign.reserve(candidates);
        self.offer.reserve(candidates);
    }

    /// At most one offer per campaign per customer (on top of the per-customer cap).
    pub fn set_one_per_campaign(&mut self, on: bool) {
        self.one_per_campaign = on;
    }

    /// Adds a channel with an optional contact capacity.
    pub fn add_channel(
        &mut self,
        name: impl Into<String>,
        capacity: Option<u64>,
    ) -> Result<ChannelId, ProblemError> {
        let name = name.into();
        if self.channels.len() >= 256 {
            return Err(ProblemError::TooMany {
                what: "channels",
                max: 256,
            });
        }
        if self.channels.iter().any(|c| c.name == name) {
            return Err(ProblemError::DuplicateName {
                what: "channel",
                name,
            });
        }
        self.channels.push(Channel { name, capacity });
        Ok(ChannelId((self.channels.len() - 1) as u16))
    }

    /// Adds a campaign with an optional budget (sum of the costs of its assignments).
    pub fn add_campaign(
        &mut self,
        name: impl Into<String>,
        budget: Option<f64>,
    ) -> Result<CampaignId, ProblemError> {
        let name = name.into();
        if self.campaigns.len() >= 65_536 {
            return Err(ProblemError::TooMany {
                what: "campaigns",
                max: 65_536,
            });
        }
        if let Some(b) = budget
            && !(b.is_finite() && b >= 0.0)
        {
            return Err(ProblemError::InvalidBudget {
                campaign: name,
                budget: b,
            });
        }
        if self.campaigns.iter().any(|c| c.name == name) {
            return Err(ProblemError::DuplicateName {
                what: "campaign",
                name,
            });
        }
        self.campaigns.push(Campaign { name, budget });
        Ok(CampaignId((self.campaigns.len() - 1) as u16))
    }

    /// Adds an offer; `min` and `max` bound how many customers receive it in total.
    pub fn add_offer(
        &mut self,
        name: impl Into<String>,
        min: u64,
        max: Option<u64>,
    ) -> Result<OfferId, ProblemError> {
        let name = name.into();
        if self.offers.len() >= 65_536 {
            return Err(ProblemError::TooMany {
                what: "offers",
                max: 65_536,
            });
        }
        if let Some(m) = max
            && m < min
        {
            return Err(ProblemError::OfferMinAboveMax {
                offer: name,
                min,
                max: m,
            });
        }
        if self.offers.iter().any(|o| o.name == name) {
            return Err(ProblemError::DuplicateName {
                what: "offer",
                name,
            });
        }
        self.offers.push(Offer { name, min, max });
        Ok(OfferId((self.offers.len() - 1) as u16))
    }

    /// Adds a customer with its eligible candidates under the problem-wide cap.
    /// Returns the customer's index (the `customer` of an [`crate::Assignment`]).
    pub fn add_customer(
        &mut self,
        id: &str,
        candidates: &[Candidate],
    ) -> Result<u32, ProblemError> {
        let cap = self.max_per_customer;
        self.push_customer(id, cap, candidates)
    }

    /// Adds a customer with its own cap (e.g. 0 for a customer under a contact freeze).
    pub fn add_customer_capped(
        &mut self,
        id: &str,
        max_offers: u32,
        candidates: &[Candidate],
    ) -> Result<u32, ProblemError> {
        let cap = if max_offers == 0 {
            0
        } else {
            check_cap(max_offers)?
        };
        self.push_customer(id, cap, candidates)
    }

    fn push_customer(
        &mut self,
        id: &str,
        cap: u8,
        candidates: &[Candidate],
    ) -> Result<u32, ProblemError> {
        let index = self.caps.len();
        if index >= u32::MAX as usize {
            return Err(ProblemError::TooMany {
                what: "customers",
                max: u32::MAX as u64,
            });
        }
        if self.value.len() + candidates.len() > u32::MAX as usize {
            return Err(ProblemError::TooMany {
                what: "candidates",
                max: u32::MAX as u64,
            });
        }
        for (k, c) in candidates.iter().enumerate() {
            if c.channel.0 as usize >= self.channels.len() {
                return Err(ProblemError::UnknownId {
                    customer: id.to_string(),
                    candidate: k,
                    what: "channel",
                    id: c.channel.0,
                });
            }
            if c.campaign.0 as usize >= self.campaigns.len() {
                return Err(ProblemError::UnknownId {
                    customer: id.to_string(),
                    candidate: k,
                    what: "campaign",
                    id: c.campaign.0,
                });
            }
            if c.offer.0 as usize >= self.offers.len() {
                return Err(ProblemError::UnknownId {
                    customer: id.to_string(),
                    candidate: k,
                    what: "offer",
                    id: c.offer.0,
                });
            }
            if !c.value.is_finite() || c.value.abs() > f32::MAX as f64 {
                return Err(ProblemError::InvalidNumber {
                    customer: id.to_string(),
                    candidate: k,
                    field: "value",
                    got: c.value,
                });
            }
            if !(c.cost.is_finite() && c.cost >= 0.0 && c.cost <= f32::MAX as f64) {
                return Err(ProblemError::InvalidNumber {
                    customer: id.to_string(),
                    candidate: k,
                    field: "cost",
                    got: c.cost,
                });
            }
        }
        let h = hash_id(id);
        if let Some(&other) = self.id_index.get(&h) {
            if self.customer_id(other) == id {
                return Err(ProblemError::DuplicateCustomer {
                    customer: id.to_string(),
                });
            }
            // A 64-bit hash collision between distinct ids: fall back to a linear check so
            // the duplicate rule stays exact (practically never taken).
            if (0..index as u32).any(|i| self.customer_id(i) == id) {
                return Err(ProblemError::DuplicateCustomer {
                    customer: id.to_string(),
                });
            }
        } else {
            self.id_index.insert(h, index as u32);
        }
        self.id_bytes.push_str(id);
        self.id_ends.push(self.id_bytes.len() as u64);
        self.caps.push(cap);
        let start = self.value.len();
        for c in candidates {
            let v = c.value as f32;
            if v <= 0.0 {
                self.dropped += 1;
                continue;
            }
            self.value.push(v);
            self.cost.push(c.cost as f32);
            self.channel.push(c.channel.0 as u8);
            self.campaign.push(c.campaign.0);
            self.offer.push(c.offer.0);
        }
        let end = self.value.len();
        if !self.campaign[start..end].is_sorted() {
            let mut order: Vec<usize> = (start..end).collect();
            order.sort_by_key(|&j| self.campaign[j]);
            gather(&mut self.value[start..end], &order, start);
            gather(&mut self.cost[start..end], &order, start);
            gather(&mut self.channel[start..end], &order, start);
            gather(&mut self.campaign[start..end], &order, start);
            gather(&mut self.offer[start..end], &order, start);
        }
        self.offsets.push(end as u32);
        Ok(index as u32)
    }

    /// Number of customers added.
    pub fn customer_count(&self) -> usize {
        self.caps.len()
    }

    /// Number of stored candidates (those with a positive value).
    pub fn candidate_count(&self) -> usize {
        self.value.len()
    }

    /// Candidates dropped on input because their expected value was not positive.
    pub fn dropped_candidates(&self) -> u64 {
        self.dropped
    }

    /// The caller's id of customer `index`.
    pub fn customer_id(&self, index: u32) -> &str {
        let i = index as usize;
        let start = if i == 0 {
            0
        } else {
            self.id_ends[i - 1] as usize
        };
        &self.id_bytes[start..self.id_ends[i] as usize]
    }

    /// The cap on offers for customer `index`.
    pub fn customer_cap(&self, index: u32) -> u32 {
        self.caps[index as usize] as u32
    }

    /// The range of candidate indices of customer `index`.
    pub fn candidate_range(&self, index: u32) -> std::ops::Range<usize> {
        self.offsets[index as usize] as usize..self.offsets[index as usize + 1] as usize
    }

    /// Stored candidate `j` (values as stored, i.e. rounded to `f32`).
    pub fn candidate(&self, j: usize) -> StoredCandidate {
        StoredCandidate {
            campaign: CampaignId(self.campaign[j]),
            offer: OfferId(self.offer[j]),
            channel: ChannelId(self.channel[j] as u16),
            value: self.value[j] as f64,
            cost: self.cost[j] as f64,
        }
    }

    /// The channels, indexed by [`ChannelId`].
    pub fn channels(&self) -> &[Channel] {
        &self.channels
    }

    /// The campaigns, indexed by [`CampaignId`].
    pub fn campaigns(&self) -> &[Campaign] {
        &self.campaigns
    }

    /// The offers, indexed by [`OfferId`].
    pub fn offers(&self) -> &[Offer] {
        &self.offers
    }

    /// Whether at most one offer per campaign per customer applies.
    pub fn one_per_campaign(&self) -> bool {
        self.one_per_campaign
    }

    /// The default per-customer cap.
    pub fn max_offers_per_customer(&self) -> u32 {
        self.max_per_customer as u32
    }

    /// Bytes held by the candidate arrays and ids (for reports and benchmarks).
    pub fn memory_bytes(&self) -> usize {
        self.value.capacity() * 4
            + self.cost.capacity() * 4
            + self.channel.capacity()
            + self.campaign.capacity() * 2
            + self.offer.capacity() * 2
            + self.offsets.capacity() * 4
            + self.caps.capacity()
            + self.id_bytes.capacity()
            + self.id_ends.capacity() * 8
            + self.id_index.capacity() * 16
    }
}

/// Permutes `v` so that `v[k] = old v[order[k] - base]`.
fn gather<T: Copy>(v: &mut [T], order: &[usize], base: usize) {
    let tmp: Vec<T> = order.iter().map(|&j| v[j - base]).collect();
    v.copy_from_slice(&tmp);
}

fn check_cap(cap: u32) -> Result<u8, ProblemError> {
    if cap == 0 || cap > 255 {
        return Err(ProblemError::InvalidCap { cap });
    }
    Ok(cap as u8)
}

fn hash_id(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}
