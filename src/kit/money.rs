//! Money, one type: an integer amount in minor units (cents) and an ISO 4217 currency. Sums and
//! products are checked (overflow → 422), amounts of different currencies never add, and no
//! floating-point number is ever on the path — JSON in and out, columns, sums.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Error, Result};

/// An amount of money: `{"amount_minor": 1999, "currency": "USD"}` is 19.99 US dollars.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(examples(crate::http::examples::money))]
pub struct Money {
    /// Minor units (cents for USD), an integer.
    pub amount_minor: i64,
    /// ISO 4217 code, three capital letters (`USD`, `EUR`).
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

impl Money {
    pub fn new(amount_minor: i64, currency: &str) -> Money {
        Money {
            amount_minor,
            currency: currency.to_string(),
        }
    }

    /// Zero of a currency.
    pub fn zero(currency: &str) -> Money {
        Money::new(0, currency)
    }

    /// Is `code` shaped like an ISO 4217 code (three capital letters)?
    pub fn is_currency(code: &str) -> bool {
        code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase())
    }

    /// 422 naming `field` unless the currency is a code and the amount is at least `min`.
    pub fn check(&self, field: &str, min: i64) -> Result<()> {
        if !Money::is_currency(&self.currency) {
            return Err(Error::field(
                &format!("{field}.currency"),
                "must be an ISO 4217 code, e.g. USD",
            ));
        }
        if self.amount_minor < min {
            return Err(Error::field(
                &format!("{field}.amount_minor"),
                format!("must be at least {min}"),
            ));
        }
        Ok(())
    }

    /// `self + other`: 422 when the currencies differ or the sum overflows.
    pub fn plus(&self, other: &Money, field: &str) -> Result<Money> {
        self.same_currency(other, field)?;
        let amount = self
            .amount_minor
            .checked_add(other.amount_minor)
            .ok_or_else(|| Error::field(field, "the amount is too large"))?;
        Ok(Money::new(amount, &self.currency))
    }

    /// `self × n`: 422 when it overflows.
    pub fn times(&self, n: i64, field: &str) -> Result<Money> {
        let amount = self
            .amount_minor
            .checked_mul(n)
            .ok_or_else(|| Error::field(field, "the amount is too large"))?;
        Ok(Money::new(amount, &self.currency))
    }

    /// 422 naming `field` unless `other` is in this currency.
    pub fn same_currency(&self, other: &Money, field: &str) -> Result<()> {
        if self.currency != other.currency {
            return Err(Error::field(
                field,
                format!(
                    "is in {}, not {}: amounts of different currencies never add",
                    other.currency, self.currency
                ),
            ));
        }
        Ok(())
    }

    /// The sum of `amounts`, all in `currency` (zero for none).
    pub fn sum<'a>(
        currency: &str,
        amounts: impl IntoIterator<Item = &'a Money>,
        field: &str,
    ) -> Result<Money> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.plus(m, field))
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn sums_are_exact_checked_and_single_currency() {
        let a = Money::new(1999, "USD");
        assert_eq!(
            a.plus(&Money::new(1, "USD"), "x").unwrap().amount_minor,
            2000
        );
        assert!(a.plus(&Money::new(1, "EUR"), "x").is_err());
        assert!(Money::new(i64::MAX, "USD")
            .plus(&Money::new(1, "USD"), "x")
            .is_err());
        assert!(Money::new(i64::MAX / 2 + 1, "USD").times(2, "x").is_err());
        assert_eq!(
            Money::new(333, "USD").times(3, "x").unwrap().amount_minor,
            999
        );
        let all = [Money::new(10, "EUR"), Money::new(20, "EUR")];
        assert_eq!(Money::sum("EUR", &all, "x").unwrap().amount_minor, 30);
        assert!(Money::new(1, "usd").check("amount", 0).is_err());
        assert!(Money::new(-1, "USD").check("amount", 0).is_err());
        // Floats are not money: JSON with a fraction does not parse.
        assert!(
            serde_json::from_str::<Money>(r#"{"amount_minor": 19.99, "currency": "USD"}"#).is_err()
        );
    }
}
