//! Asking for a controller grant with a question that can fail for a reason of
//! its own (no terminal to ask, a closed window): the `*_with_consent` verbs take
//! a yes or a no; [`with_consent`] lets the caller's no carry its reason out.

use super::{ClientError, ClientResult, ControllerGrant, GrantConsent};

/// Runs `call`, one of the client's `*_with_consent` verbs
/// ([`super::Client::submit_job_with_consent`],
/// [`super::Client::serve_up_with_consent`]), with `ask` as its consent: `Ok(())`
/// grants; an `Err` refuses, and that error, not the verb's
/// [`ClientError::GrantRefused`], is what comes back, so the caller's reason (no
/// terminal to ask, the user said no) is the one reported. A call that fails
/// without asking, or after a yes, fails with its own error.
pub fn with_consent<T, E: From<ClientError>>(
    call: impl FnOnce(&mut GrantConsent<'_>) -> ClientResult<T>,
    mut ask: impl FnMut(&ControllerGrant) -> Result<(), E>,
) -> Result<T, E> {
    let mut refusal = None;
    let result = call(&mut |grant| match ask(grant) {
        Ok(()) => true,
        Err(err) => {
            refusal = Some(err);
            false
        }
    });
    match (result, refusal) {
        (Err(_), Some(refusal)) => Err(refusal),
        (result, _) => Ok(result?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A verb that asks once and is refused as the client's verbs are.
    fn verb(consent: &mut GrantConsent<'_>) -> ClientResult<u32> {
        let grant = ControllerGrant {
            providers: [("aws".to_string(), vec!["AWS_ACCESS_KEY_ID".to_string()])].into(),
        };
        if consent(&grant) {
            Ok(7)
        } else {
            Err(ClientError::GrantRefused {
                providers: vec!["aws".into()],
            })
        }
    }

    #[derive(Debug, PartialEq)]
    enum Answer {
        NoTerminal,
        Client(String),
    }

    impl From<ClientError> for Answer {
        fn from(err: ClientError) -> Self {
            Answer::Client(err.to_string())
        }
    }

    #[test]
    fn the_callers_refusal_is_the_error_and_a_yes_is_the_verbs_result() {
        let mut asked = Vec::new();
        let yes = with_consent(verb, |grant| {
            asked.extend(grant.providers.keys().cloned());
            Ok::<(), Answer>(())
        });
        assert_eq!(yes, Ok(7));
        assert_eq!(asked, ["aws"]);
        assert_eq!(
            with_consent(verb, |_| Err(Answer::NoTerminal)),
            Err(Answer::NoTerminal)
        );
        let failed = with_consent(
            |_: &mut GrantConsent<'_>| -> ClientResult<u32> {
                Err(ClientError::Other("down".into()))
            },
            |_| Err(Answer::NoTerminal),
        );
        assert_eq!(failed, Err(Answer::Client("down".into())));
    }
}
