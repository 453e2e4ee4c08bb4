//! Enumerated wire values (statuses, kinds, types) and the state machines of statuses, as data:
//! which arrows exist and who may take each.
//! One function applies them for every domain (`Machine::check`): an arrow that does not
//! exist is a 409 naming the current status; one the caller may not take is a 403.

use super::{Action, Error, Resource, Result, Tx};

/// An enum with snake_case names on the wire (declared with `wire_enum!`).
pub trait WireEnum: Copy + Eq + std::fmt::Debug + 'static {
    /// What has this status, for messages (`appointment`).
    const OF: &'static str;
    /// Every status, in declaration order.
    const ALL: &'static [Self];
    fn as_str(self) -> &'static str;
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
    /// The wire names of every status (for validation messages).
    fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|s| s.as_str()).collect()
    }
}

/// One arrow of a state machine, and the parties that may take it (`P` is the domain's own
/// notion of who acts: the patient, the object's doctor, an admin, ...).
#[derive(Debug)]
pub struct Arrow<'a, S, P> {
    pub from: S,
    pub to: S,
    pub by: &'a [P],
}

/// A state machine: the arrows, and nothing else.
#[derive(Debug)]
///
/// A domain's machine is usually a constant (`Machine<'static, …>`); one whose arrows are data
/// in the database (referral statuses) borrows them from what it loaded.
pub struct Machine<'a, S, P> {
    pub arrows: &'a [Arrow<'a, S, P>],
}

impl<S: WireEnum, P: Copy + Eq> Machine<'_, S, P> {
    /// A status no arrow leaves: the object never changes again.
    pub fn is_final(&self, s: S) -> bool {
        !self.arrows.iter().any(|a| a.from == s)
    }

    /// Where an object in `s` may go.
    pub fn next(&self, s: S) -> impl Iterator<Item = S> + '_ {
        self.arrows
            .iter()
            .filter(move |a| a.from == s)
            .map(|a| a.to)
    }

    /// Is `to` a status that others set but none of `parties` ever may (some arrow leads into
    /// it, none of them theirs)? A status no arrow leads into is nobody's: not this.
    pub fn never_sets(&self, to: S, parties: &[P]) -> bool {
        let mut into = self.arrows.iter().filter(|a| a.to == to).peekable();
        into.peek().is_some() && !into.any(|a| a.by.iter().any(|p| parties.contains(p)))
    }

    /// May one of `parties` move an object from `from` to `to`? 403 when `to` is a status
    /// their role never sets (`never_sets`); 409 `illegal-transition` naming the current status
    /// when there is no arrow from `from` to `to` (staying put is no arrow); 403 when the arrow
    /// exists but is another party's.
    pub fn check(&self, from: S, to: S, parties: &[P]) -> Result<()> {
        let forbidden = || {
            Error::forbidden(format!(
                "you may not move a {} from {} to {}",
                S::OF,
                from.as_str(),
                to.as_str()
            ))
        };
        if self.never_sets(to, parties) {
            return Err(forbidden());
        }
        let Some(arrow) = self.arrows.iter().find(|a| a.from == from && a.to == to) else {
            return Err(self.illegal(from, to));
        };
        if arrow.by.iter().any(|p| parties.contains(p)) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// `check` inside a write: a refusal (403) is audited as a denied `state_change` of the
    /// object, like every other refusal. What domains call.
    #[allow(clippy::too_many_arguments)]
    pub fn take(
        &self,
        tx: &Tx,
        from: S,
        to: S,
        parties: &[P],
        resource: Resource,
        id: &str,
        patient: Option<&str>,
    ) -> Result<()> {
        match self.check(from, to, parties) {
            Err(e @ Error::Forbidden(_)) => {
                Err(tx.deny(e, Action::StateChange, resource, Some(id), patient))
            }
            other => other,
        }
    }

    /// The 409 of an arrow that does not exist.
    pub fn illegal(&self, from: S, to: S) -> Error {
        let detail = if self.is_final(from) {
            format!(
                "the {} is {}, which is final; it cannot go to {}",
                S::OF,
                from.as_str(),
                to.as_str()
            )
        } else {
            format!(
                "a {} cannot go from {} to {}",
                S::OF,
                from.as_str(),
                to.as_str()
            )
        };
        Error::conflict_of("illegal-transition", detail)
    }
}

/// Declares an enum of wire values: its names on the wire (serde, OpenAPI), `WireEnum` for
/// parsing and the state machines.
///
/// ```ignore
/// wire_enum!(
///     /// What an appointment is.
///     AppointmentStatus of "appointment" {
///         Booked = "booked",
///         CheckedIn = "checked_in",
///     }
/// );
/// ```
#[macro_export]
macro_rules! wire_enum {
    // `Name as SchemaName of ...`: the name of its OpenAPI schema, where two domains' enums
    // share a Rust name (components are keyed by name: one would replace the other).
    ($(#[$doc:meta])* $name:ident as $schema:ident of $of:literal { $($variant:ident = $wire:tt),+ $(,)? }) => {
        $crate::wire_enum!(@emit [$(#[$doc])*] [#[schema(as = $schema)]] $name of $of { $($variant = $wire),+ });
    };
    ($(#[$doc:meta])* $name:ident of $of:literal { $($variant:ident = $wire:tt),+ $(,)? }) => {
        $crate::wire_enum!(@emit [$(#[$doc])*] [] $name of $of { $($variant = $wire),+ });
    };
    (@emit [$($doc:tt)*] [$($schema:tt)*] $name:ident of $of:literal { $($variant:ident = $wire:tt),+ }) => {
        $($doc)*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
            utoipa::ToSchema,
        )]
        $($schema)*
        pub enum $name {
            $(#[serde(rename = $wire)] $variant,)+
        }

        impl $crate::kit::status::WireEnum for $name {
            const OF: &'static str = $of;
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str($crate::kit::status::WireEnum::as_str(*self))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::wire_enum!(
        /// A light.
        Light of "light" { Red = "red", Green = "green", Broken = "broken" }
    );

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum Who {
        Driver,
        Mechanic,
    }

    const LIGHT: Machine<'static, Light, Who> = Machine {
        arrows: &[
            Arrow {
                from: Light::Red,
                to: Light::Green,
                by: &[Who::Driver, Who::Mechanic],
            },
            Arrow {
                from: Light::Green,
                to: Light::Red,
                by: &[Who::Driver],
            },
            Arrow {
                from: Light::Green,
                to: Light::Broken,
                by: &[Who::Mechanic],
            },
        ],
    };

    #[test]
    fn arrows_and_who_may_take_them() {
        assert!(LIGHT
            .check(Light::Red, Light::Green, &[Who::Driver])
            .is_ok());
        assert!(matches!(
            LIGHT.check(Light::Green, Light::Broken, &[Who::Driver]),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            LIGHT.check(Light::Red, Light::Red, &[Who::Driver]),
            Err(Error::Conflict {
                kind: "illegal-transition",
                ..
            })
        ));
        assert!(
            matches!(
                LIGHT.check(Light::Red, Light::Red, &[Who::Mechanic]),
                Err(Error::Forbidden(_))
            ),
            "a mechanic never sets red"
        );
        match LIGHT.check(Light::Broken, Light::Green, &[Who::Mechanic]) {
            Err(Error::Conflict { detail, .. }) => {
                assert!(detail.contains("broken, which is final"))
            }
            other => panic!("{other:?}"),
        }
        assert!(LIGHT.is_final(Light::Broken) && !LIGHT.is_final(Light::Green));
        assert_eq!(
            LIGHT.next(Light::Green).collect::<Vec<_>>(),
            [Light::Red, Light::Broken]
        );
        assert_eq!(Light::parse("green"), Some(Light::Green));
        assert_eq!(serde_json::to_string(&Light::Broken).unwrap(), "\"broken\"");
    }
}
