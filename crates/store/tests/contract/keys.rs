//! API keys and idempotency keys.

use super::*;

pub(crate) async fn api_keys_are_read_with_their_hashes_listed_by_name_and_deleted_by_name<
    K: ApiKeyRepository,
>(
    store: &K,
) {
    let scopes = Scopes::new(vec![Scope::Write, Scope::Read]).unwrap();
    let mut secrets = Vec::new();
    for name in ["zeta", "alpha"] {
        let issued = api_key::issue(ApiKeyName::parse(name).unwrap(), scopes.clone()).unwrap();
        let key = ApiKeyRepository::create(store, issued.stored.clone())
            .await
            .unwrap();
        assert_eq!(key.name.as_str(), name);
        secrets.push((issued.secret, issued.stored));
    }
    let (secret, stored) = &secrets[0];
    let all = store.all_stored().await.unwrap();
    assert_eq!(all.len(), 2);
    let found = all.iter().find(|k| k.key.lookup == stored.lookup).unwrap();
    assert_eq!(found.key.scopes.to_list(), "read,write");
    assert!(found.hash.matches(&KeyHash::of(secret.expose_secret())));

    let again = api_key::issue(ApiKeyName::parse("alpha").unwrap(), scopes).unwrap();
    let err = ApiKeyRepository::create(store, again.stored)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");

    let names: Vec<String> = ApiKeyRepository::list(store)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name.to_string())
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);

    let zeta = ApiKeyName::parse("zeta").unwrap();
    ApiKeyRepository::delete(store, &zeta).await.unwrap();
    let left = store.all_stored().await.unwrap();
    assert!(left.iter().all(|k| k.key.lookup != stored.lookup));
    let err = ApiKeyRepository::delete(store, &zeta).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err:?}");
}

pub(crate) async fn an_idempotency_key_is_claimed_once_replayed_after_and_free_again_once_expired<
    I: IdempotencyRepository,
>(
    store: &I,
) {
    use sluice_domain::idempotency::{
        Claim, Fingerprint, IdempotencyKey, NewClaim, StoredResponse,
    };
    let key = IdempotencyKey::parse("ci", "k-1").unwrap();
    let request = Fingerprint::of("POST", "/v2/flows", b"{}");
    let now = Utc::now();
    let claim = |fingerprint: &Fingerprint, now: DateTime<Utc>| NewClaim {
        key: key.clone(),
        fingerprint: fingerprint.clone(),
        now,
        expired_before: now - TimeDelta::hours(24),
        abandoned_before: now - TimeDelta::minutes(5),
    };
    let claims = futures_join(store, claim(&request, now)).await;
    assert_eq!(
        claims.iter().filter(|c| **c == Claim::Claimed).count(),
        1,
        "{claims:?}"
    );
    assert!(
        claims
            .iter()
            .all(|c| matches!(c, Claim::Claimed | Claim::InFlight))
    );

    let other = Fingerprint::of("POST", "/v2/flows", b"{\"x\":1}");
    assert_eq!(
        store.claim(claim(&other, now)).await.unwrap(),
        Claim::Mismatch
    );

    let answer = StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        location: Some("/v2/flows/7".into()),
        body: b"{\"id\":7}".to_vec(),
    };
    store.complete(&key, answer.clone()).await.unwrap();
    assert_eq!(
        store.claim(claim(&request, now)).await.unwrap(),
        Claim::Replay(answer)
    );
    // Another client may use the same key text.
    let mut theirs = claim(&request, now);
    theirs.key = IdempotencyKey::parse("other", "k-1").unwrap();
    assert_eq!(store.claim(theirs).await.unwrap(), Claim::Claimed);

    let tomorrow = now + TimeDelta::hours(25);
    assert_eq!(
        store.claim(claim(&other, tomorrow)).await.unwrap(),
        Claim::Claimed
    );
    store.release(&key).await.unwrap();
    assert_eq!(
        store.purge(tomorrow + TimeDelta::hours(1)).await.unwrap(),
        1
    );
}

/// Four claims of one key at once.
pub(crate) async fn futures_join<I: IdempotencyRepository>(
    store: &I,
    claim: sluice_domain::idempotency::NewClaim,
) -> Vec<sluice_domain::idempotency::Claim> {
    let (a, b, c, d) = tokio::join!(
        store.claim(claim.clone()),
        store.claim(claim.clone()),
        store.claim(claim.clone()),
        store.claim(claim),
    );
    vec![a.unwrap(), b.unwrap(), c.unwrap(), d.unwrap()]
}
