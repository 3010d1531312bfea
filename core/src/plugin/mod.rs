//! TODO(owner): plugin
