//! Next-best-action: offer catalogue, engagement and contact policies with explanations, arbitration, adaptive models and Thompson sampling.
