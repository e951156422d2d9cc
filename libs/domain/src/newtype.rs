//! The string plumbing shared by every validated string newtype in this crate.
//!
//! Each such type is a tuple struct over `String` whose only constructor is a
//! validating `parse`; `string_newtype!` derives the conversions from it, so
//! no conversion can skip validation.

/// Implements the string plumbing every validated string newtype shares:
/// `as_str`, `Display`, `FromStr`, `TryFrom<String>`, `TryFrom<&str>`,
/// `From<T> for String` and `AsRef<str>`. The type must be a tuple struct over
/// `String` with an associated `fn parse(&str) -> Result<Self, $err>`.
macro_rules! string_newtype {
    ($ty:ident, $err:ty) => {
        impl $ty {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $err;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = $err;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl ::std::convert::From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }

        impl ::std::convert::AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}
pub(crate) use string_newtype;
