//! Text in Chinese and English, as every name, title and label of the
//! registries and workflows is written. A module of its own because the
//! calendar, the registry, the workflow language and the case all use it,
//! and none of them should depend on another just for this.

use serde::{Deserialize, Serialize};

/// Text in Chinese and English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Localized {
    pub zh: String,
    pub en: String,
}
