//! One request's operation on the token store, so that a store can run it together with the
//! request's admission (one round trip to a shared store).
//!
//! Owns: [`StoreOp`], [`StoreAnswer`], and running an op through the store's single-step
//! methods (the default of `TokenStore::admit_then`). Does not own: the store (see the parent).

use super::{StoreUnavailable, TokenHash, TokenRecord, TokenStore};

/// The store operation of one request, run once its client is admitted.
#[derive(Debug)]
pub enum StoreOp<'a> {
    /// Nothing to store or read (a JWT issued, a refused request): only the admission.
    Nothing,
    Insert(TokenHash, TokenRecord),
    /// The live record of a token at `now`.
    Get(TokenHash, u64),
    /// Removes the token if it was issued to this client.
    Revoke(TokenHash, &'a str),
    /// Denylists a self-contained token until its `exp`.
    Deny(TokenHash, u64),
    /// Whether a self-contained token is denylisted at `now`.
    IsDenied(TokenHash, u64),
}

/// What a [`StoreOp`] answered.
#[derive(Debug, PartialEq, Eq)]
pub enum StoreAnswer {
    /// `Nothing`, `Insert` and `Deny`.
    Done,
    /// `Get`.
    Record(Option<TokenRecord>),
    /// `Revoke` (whether it removed the token) and `IsDenied`.
    Flag(bool),
}

impl StoreOp<'_> {
    /// Runs the op with `store`'s single-step methods.
    pub async fn run_in<S: TokenStore + ?Sized>(
        self,
        store: &S,
    ) -> Result<StoreAnswer, StoreUnavailable> {
        Ok(match self {
            StoreOp::Nothing => StoreAnswer::Done,
            StoreOp::Insert(hash, record) => {
                store.insert(hash, record).await?;
                StoreAnswer::Done
            }
            StoreOp::Get(hash, now) => StoreAnswer::Record(store.get(&hash, now).await?),
            StoreOp::Revoke(hash, owner) => StoreAnswer::Flag(store.revoke(&hash, owner).await?),
            StoreOp::Deny(hash, exp) => {
                store.deny(hash, exp).await?;
                StoreAnswer::Done
            }
            StoreOp::IsDenied(hash, now) => StoreAnswer::Flag(store.is_denied(&hash, now).await?),
        })
    }
}
