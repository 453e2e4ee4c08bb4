//! Id newtypes: a patient id cannot be passed where a doctor id is expected. On the wire and in
//! the database an id is the UUID's text; queries bind `id.as_str()`.

/// Declares an id type: a UUID in text form, transparent in JSON and OpenAPI.
#[macro_export]
macro_rules! id_type {
    // `Name as SchemaName`: the name of its OpenAPI schema, where two domains' ids share a Rust
    // name (components are keyed by name: one would replace the other).
    ($(#[$doc:meta])* $name:ident as $schema:ident) => {
        $crate::id_type!(@emit [$(#[$doc])*] [#[schema(as = $schema)]] $name);
    };
    ($(#[$doc:meta])* $name:ident) => {
        $crate::id_type!(@emit [$(#[$doc])*] [] $name);
    };
    (@emit [$($doc:tt)*] [$($schema:tt)*] $name:ident) => {
        $($doc)*
        #[derive(
            Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid, examples($name::schema_example))]
        $($schema)*
        pub struct $name(String);

        /// Only a UUID (`8-4-4-4-12` hex digits, any case; kept in lower case): anything else
        /// names no object, and a body or query that sends it is 422 on that field.
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                $crate::kit::ids::canonical_uuid(&text)
                    .map($name)
                    .ok_or_else(|| serde::de::Error::custom("must be a UUID"))
            }
        }

        impl $name {
            /// The id's example in the OpenAPI document (`http::examples`).
            pub fn schema_example() -> String {
                $crate::http::examples::id(stringify!($name))
            }
            /// A new id (UUIDv7, so ids sort by creation time).
            pub fn generate() -> $name {
                $name($crate::db::new_id())
            }
            /// An id read from the database or a path: not checked, a lookup answers for it.
            pub fn from_db(id: String) -> $name {
                $name(id)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// `text` as the server writes a UUID (lower case, hyphenated), if it is one in that shape.
pub fn canonical_uuid(text: &str) -> Option<String> {
    (text.len() == 36 && uuid::Uuid::try_parse(text).is_ok()).then(|| text.to_ascii_lowercase())
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A Patient record (not the patient's user account).
    PatientId
);
id_type!(
    /// A Doctor record (not the doctor's user account).
    DoctorId
);
