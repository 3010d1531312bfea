//! Kubeconfig files: parsing with located errors, resolving a context.
//!
//! (Being built: see issue #13.)
