//! What the case tests share: the agencies of their small test bundles.

pub const AGENCIES: &str = r#"
[[agency]]
id = "window"
name = { zh = "综合窗口", en = "Window" }
kind = "window"
[[agency]]
id = "a"
name = { zh = "甲局", en = "Agency A" }
kind = "government"
[[agency]]
id = "b"
name = { zh = "乙局", en = "Agency B" }
kind = "government"
[[agency]]
id = "tax"
name = { zh = "税务局", en = "Tax bureau" }
kind = "government"
[[agency]]
id = "finance"
name = { zh = "财政局", en = "Finance bureau" }
kind = "government"
[[agency]]
id = "c"
name = { zh = "丙局", en = "Agency C" }
kind = "government"
[[agency]]
id = "hotline"
name = { zh = "热线", en = "Hotline" }
kind = "government"
"#;
