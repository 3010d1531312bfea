//! The response body the balancer sends: a replica's body passed on frame by
//! frame (never collected), or a short message of its own.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use tokio::time::{Instant, Sleep};

use super::inflight::InFlight;

/// The error type of bodies passed through.
pub(super) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The replica's response did not end within the stream timeout.
#[derive(Debug, thiserror::Error)]
#[error("the replica's response did not end within {0:?}")]
struct StreamTimeout(Duration);

/// A response body.
#[derive(Debug)]
pub(super) struct ProxyBody {
    state: State,
}

#[derive(Debug)]
enum State {
    /// A replica's body, the request counted in flight until it ends.
    Upstream {
        body: Incoming,
        /// Held, never read: dropping it (with this state) ends the count.
        _in_flight: InFlight,
        deadline: Pin<Box<Sleep>>,
        timeout: Duration,
    },
    /// The balancer's own message, until sent.
    Message(Option<Bytes>),
    /// Ended (or failed): the replica's body and the in-flight count are released.
    Done,
}

impl ProxyBody {
    /// Passes on `body` until `deadline` (the request's arrival plus `timeout`),
    /// `guard` counting it in flight until it ends, fails or is dropped.
    pub(super) fn upstream(
        body: Incoming,
        guard: InFlight,
        deadline: Instant,
        timeout: Duration,
    ) -> ProxyBody {
        ProxyBody {
            state: State::Upstream {
                body,
                _in_flight: guard,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                timeout,
            },
        }
    }

    /// A body of the balancer's own.
    pub(super) fn message(text: impl Into<Bytes>) -> ProxyBody {
        ProxyBody {
            state: State::Message(Some(text.into())),
        }
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = match &mut this.state {
            State::Message(text) => return Poll::Ready(text.take().map(|t| Ok(Frame::data(t)))),
            State::Done => return Poll::Ready(None),
            State::Upstream {
                body,
                deadline,
                timeout,
                ..
            } => {
                if deadline.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Some(Err(StreamTimeout(*timeout).into())))
                } else {
                    Pin::new(body)
                        .poll_frame(cx)
                        .map(|frame| frame.map(|f| f.map_err(BoxError::from)))
                }
            }
        };
        if matches!(polled, Poll::Ready(None) | Poll::Ready(Some(Err(_)))) {
            // The end, or the end by failure: release the replica's connection
            // and the in-flight count now rather than when the server drops us.
            this.state = State::Done;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            State::Upstream { body, .. } => body.is_end_stream(),
            State::Message(text) => text.is_none(),
            State::Done => true,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            State::Upstream { body, .. } => body.size_hint(),
            State::Message(Some(text)) => SizeHint::with_exact(text.len() as u64),
            State::Message(None) | State::Done => SizeHint::with_exact(0),
        }
    }
}
