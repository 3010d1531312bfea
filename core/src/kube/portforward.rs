//! SSH to a pod through the API server's `pods/portforward` WebSocket.
//!
//! (Being built: see issue #13.)
