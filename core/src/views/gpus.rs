//! Accelerators: `gpus list` from the catalogs or live offers, and Kubernetes GPU counts.
