//! TODO(owner): optimizer
