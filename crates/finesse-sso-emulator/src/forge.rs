//! The forged token answers of `--forge idp-json|ids-json` and the other hostile modes: JSON
//! shaped like Finesse's, holding tokens no one issued.

use crate::app::App;
use crate::response::{self, Resp, ordered_json};
use crate::state::random_id;

/// Token-shaped values no one issued (fresh random tokens on each call).
pub(crate) fn forged_value(app: &App) -> serde_json::Value {
    let realm = app.tokens.realm();
    serde_json::json!({
        "token": format!("FORGED-{}", random_id(8)),
        "refresh_token": format!("FORGED-{}", random_id(8)),
        "expires_in": 300,
        "user_id": "FORGED",
        "realm": realm,
        "user_principal": format!("FORGED@{realm}"),
    })
}

/// A token-shaped JSON holding forged tokens (`--forge idp-json|ids-json`).
pub(crate) fn forged_json(app: &App) -> Resp {
    let v = forged_value(app);
    let fields: Vec<(&str, serde_json::Value)> = [
        "token",
        "refresh_token",
        "expires_in",
        "user_id",
        "realm",
        "user_principal",
    ]
    .into_iter()
    .map(|k| (k, v[k].clone()))
    .collect();
    Resp::new(200, response::JSON, ordered_json(&fields))
}
