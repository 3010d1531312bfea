//! TODO(owner): catalog
