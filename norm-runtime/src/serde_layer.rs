//! Serialization of generated layers (feature `serde`), used by the impls the
//! macro generates: a layer is a struct of its fields in PyTorch's state-dict
//! names; each array field is a nested sequence in its shape (`weight` of a
//! `dims = [4, 8]` layer is 4 sequences of 8 numbers), of any size.
//!
//! Deserializing checks every length, rejects unknown and duplicate fields,
//! and requires every field, so a layer is either read whole or not at all.

use crate::{Float, Row};
use core::fmt;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use serde;

/// An array field as the serializer sees it: name, values, shape.
#[must_use]
pub fn field<'a, R: Row>(
    name: &'static str,
    array: &'a R,
) -> (&'static str, &'a [R::Scalar], &'static [usize]) {
    (name, array.as_flat(), R::SHAPE)
}

/// An array field as the deserializer fills it: name, values, shape.
#[must_use]
pub fn field_mut<'a, R: Row>(
    name: &'static str,
    array: &'a mut R,
) -> (&'static str, &'a mut [R::Scalar], &'static [usize]) {
    (name, array.as_flat_mut(), R::SHAPE)
}

/// A flat slice seen as nested sequences of the given shape.
struct Nested<'a, T> {
    flat: &'a [T],
    shape: &'a [usize],
}

impl<T: Float + Serialize> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (&outer, inner_shape) = self
            .shape
            .split_first()
            .ok_or_else(|| serde::ser::Error::custom("empty shape"))?;
        let mut seq = serializer.serialize_seq(Some(outer))?;
        if inner_shape.is_empty() {
            for v in self.flat {
                seq.serialize_element(v)?;
            }
        } else {
            let inner = self.flat.len() / outer.max(1);
            for chunk in self.flat.chunks_exact(inner.max(1)) {
                seq.serialize_element(&Nested {
                    flat: chunk,
                    shape: inner_shape,
                })?;
            }
        }
        seq.end()
    }
}

/// Serializes a layer: its array fields (name, values, shape) and its
/// counters (name, value).
///
/// # Errors
/// Whatever the serializer reports.
pub fn serialize<S: Serializer, T: Float + Serialize>(
    serializer: S,
    name: &'static str,
    arrays: &[(&'static str, &[T], &'static [usize])],
    counters: &[(&'static str, u64)],
) -> Result<S::Ok, S::Error> {
    let mut state = serializer.serialize_struct(name, arrays.len() + counters.len())?;
    for (field, flat, shape) in arrays {
        state.serialize_field(field, &Nested { flat, shape })?;
    }
    for (field, value) in counters {
        state.serialize_field(field, value)?;
    }
    state.end()
}

/// Reads nested sequences of exactly `shape` into `out`; `field` names the
/// array in the errors.
struct NestedSeed<'a, T> {
    out: &'a mut [T],
    shape: &'a [usize],
    field: &'a dyn fmt::Display,
}

impl<'de, T: Float + Deserialize<'de>> DeserializeSeed<'de> for NestedSeed<'_, T> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, T: Float + Deserialize<'de>> Visitor<'de> for NestedSeed<'_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}`: nested sequences of shape {:?}",
            self.field, self.shape
        )
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((&outer, inner_shape)) = self.shape.split_first() else {
            return Err(de::Error::custom("empty shape"));
        };
        let inner = self.out.len().checked_div(outer).unwrap_or(0);
        for i in 0..outer {
            let found = if inner_shape.is_empty() {
                seq.next_element::<T>()?.map(|v| self.out[i] = v)
            } else {
                let out = &mut self.out[i * inner..(i + 1) * inner];
                seq.next_element_seed(NestedSeed {
                    out,
                    shape: inner_shape,
                    field: self.field,
                })?
            };
            if found.is_none() {
                return Err(de::Error::invalid_length(i, &self));
            }
        }
        if seq.next_element::<de::IgnoredAny>()?.is_some() {
            return Err(de::Error::invalid_length(outer + 1, &self));
        }
        Ok(())
    }
}

/// Reads a counter (`num_batches_tracked`): a non-negative integer; a
/// negative one is an error naming `field`.
struct CounterSeed<'a> {
    field: &'a dyn fmt::Display,
}

impl<'de> DeserializeSeed<'de> for CounterSeed<'_> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<u64, D::Error> {
        deserializer.deserialize_u64(self)
    }
}

impl Visitor<'_> for CounterSeed<'_> {
    type Value = u64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: a count, a non-negative integer", self.field)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format_args!("`{}` is negative ({v})", self.field)))
    }
}

/// The most fields a layer read by [`deserialize`] has.
const MAX_FIELDS: usize = 32;

/// The fields of a layer being read, in place.
struct Fields<'a, 'b, 'c, T> {
    name: &'static str,
    arrays: &'a mut [(&'static str, &'b mut [T], &'static [usize])],
    counters: &'a mut [(&'static str, &'c mut u64)],
}

impl<'de, T: Float + Deserialize<'de>> Visitor<'de> for Fields<'_, '_, '_, T> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {} layer: a map of its fields", self.name)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let total = self.arrays.len() + self.counters.len();
        // Fields seen, by position: arrays first, then counters.
        let mut seen = [false; MAX_FIELDS];
        if total > MAX_FIELDS {
            return Err(de::Error::custom("a layer of more than 32 fields"));
        }
        while let Some(p) = map.next_key_seed(FieldSeed { fields: &self })? {
            if core::mem::replace(&mut seen[p], true) {
                return Err(de::Error::duplicate_field(field_name(&self, p)));
            }
            if p < self.arrays.len() {
                let (field, out, shape) = &mut self.arrays[p];
                map.next_value_seed(NestedSeed {
                    out,
                    shape,
                    field: &*field,
                })?;
            } else {
                let (field, value) = &mut self.counters[p - self.arrays.len()];
                **value = map.next_value_seed(CounterSeed { field: &*field })?;
            }
        }
        if let Some(missing) = (0..total).find(|p| !seen[*p]) {
            return Err(de::Error::missing_field(field_name(&self, missing)));
        }
        for (name, values, _) in self.arrays.iter() {
            check_values(name, values).map_err(de::Error::custom)?;
        }
        Ok(())
    }
}

/// A field name, read as its position among a layer's fields (arrays
/// first, then counters); borrowed or owned text alike (`serde_json::Value`,
/// readers), and an unknown name is an error that names it.
struct FieldSeed<'f, 'a, 'b, 'c, T> {
    fields: &'f Fields<'a, 'b, 'c, T>,
}

impl<'de, T> DeserializeSeed<'de> for FieldSeed<'_, '_, '_, '_, T> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<T> Visitor<'_> for FieldSeed<'_, '_, '_, '_, T> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a field of a {} layer", self.fields.name)
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        let Fields {
            arrays, counters, ..
        } = self.fields;
        arrays
            .iter()
            .position(|(f, ..)| *f == key)
            .or_else(|| {
                counters
                    .iter()
                    .position(|(f, _)| *f == key)
                    .map(|p| p + arrays.len())
            })
            .ok_or_else(|| E::unknown_field(key, &[]))
    }
}

pub use crate::state::is_variance;

/// A value that cannot be a layer's state, found under `key` at `index`.
struct Bad<K> {
    key: K,
    index: usize,
    what: &'static str,
}

impl<K: fmt::Display> fmt::Display for Bad<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` has {} at index {}",
            self.key, self.what, self.index
        )
    }
}

/// Why values read under `key` cannot be a layer's state: a NaN or an
/// infinity anywhere, or a negative running variance.
fn check_values<T: Float, K: fmt::Display>(key: K, values: &[T]) -> Result<(), Bad<K>> {
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(Bad {
            key,
            index,
            what: "a NaN or infinite value",
        });
    }
    let mut name = KeyEnd::default();
    let _ = fmt::write(&mut name, format_args!("{key}"));
    if name.is_variance()
        && let Some(index) = values.iter().position(|v| *v < T::ZERO)
    {
        return Err(Bad {
            key,
            index,
            what: "a negative variance",
        });
    }
    Ok(())
}

/// The last bytes of a key written into it, enough to tell whether it ends
/// in `running_var` without allocating.
#[derive(Default)]
struct KeyEnd {
    buf: [u8; 16],
    len: usize,
    longer: bool,
}

impl KeyEnd {
    fn is_variance(&self) -> bool {
        // Bytes, not text: the window may start inside a character.
        let end = &self.buf[..self.len];
        end.ends_with(b".running_var") || (!self.longer && end == b"running_var")
    }
}

impl fmt::Write for KeyEnd {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                self.buf.copy_within(1.., 0);
                self.len -= 1;
                self.longer = true;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

fn field_name<T>(fields: &Fields<'_, '_, '_, T>, position: usize) -> &'static str {
    if position < fields.arrays.len() {
        fields.arrays[position].0
    } else {
        fields.counters[position - fields.arrays.len()].0
    }
}

/// Reads a layer's fields into place. On error the fields may be partly
/// written: the generated code reads into a fresh layer and returns it only
/// when everything was read.
///
/// # Errors
/// A missing, unknown or duplicate field, a sequence of the wrong length, or
/// whatever the deserializer reports.
pub fn deserialize<'de, D: Deserializer<'de>, T: Float + Deserialize<'de>>(
    deserializer: D,
    name: &'static str,
    arrays: &mut [(&'static str, &mut [T], &'static [usize])],
    counters: &mut [(&'static str, &mut u64)],
) -> Result<(), D::Error> {
    const NO_FIELDS: &[&str] = &[];
    deserializer.deserialize_struct(
        name,
        NO_FIELDS,
        Fields {
            name,
            arrays,
            counters,
        },
    )
}

/// A state-dict key as a map key: its dotted name.
struct KeyName<'a>(&'a crate::Key<'a>);

impl Serialize for KeyName<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

/// Writes a layer of any structure (a composite layer such as attention, or
/// a whole network of up to 4096 arrays and counters, the most
/// [`deserialize_state_dict`] reads back) as its state dict: a map from PyTorch's dotted keys
/// (`self_attn.in_proj_weight`) to nested sequences in PyTorch's shapes, and
/// the counters (`num_batches_tracked`) as integers.
///
/// # Errors
/// Whatever the serializer reports.
pub fn serialize_state_dict<S, L>(serializer: S, layer: &L) -> Result<S::Ok, S::Error>
where
    S: Serializer,
    L: crate::StateDict,
    L::Scalar: Serialize,
{
    use serde::ser::SerializeMap;
    let mut map = serializer.serialize_map(None)?;
    let mut result = Ok(());
    layer.visit_arrays(&mut |key, shape, flat| {
        if result.is_ok() {
            result = map.serialize_entry(&KeyName(key), &Nested { flat, shape });
        }
    });
    layer.visit_counters(&mut |key, value| {
        if result.is_ok() {
            result = map.serialize_entry(&KeyName(key), &value);
        }
    });
    result?;
    map.end()
}

/// The most arrays and counters [`deserialize_state_dict`] tracks (a
/// bitset of 64 words on the stack).
const MAX_ENTRIES: usize = 4096;

/// A layer's state dict being read, in place.
struct StateEntries<'a, L> {
    layer: &'a mut L,
}

impl<'de, L> Visitor<'de> for StateEntries<'_, L>
where
    L: crate::StateDict,
    L::Scalar: Deserialize<'de>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a state dict: a map from keys to arrays and counters")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let total = entries(self.layer);
        if total > MAX_ENTRIES {
            return Err(de::Error::custom("more than 4096 arrays and counters"));
        }
        let mut seen = [0_u64; MAX_ENTRIES / 64];
        while let Some(i) = map.next_key_seed(KeySeed {
            layer: &*self.layer,
        })? {
            let (mut index, mut result) = (0, Ok(()));
            self.layer.visit_arrays_mut(&mut |key, shape, out| {
                if index == i {
                    result = map.next_value_seed(NestedSeed {
                        out,
                        shape,
                        field: key,
                    });
                }
                index += 1;
            });
            self.layer.visit_counters_mut(&mut |key, value| {
                if index == i {
                    result = map
                        .next_value_seed(CounterSeed { field: key })
                        .map(|v| *value = v);
                }
                index += 1;
            });
            result?;
            let (word, bit) = (i / 64, 1_u64 << (i % 64));
            if seen[word] & bit != 0 {
                return Err(de::Error::custom(format_args!(
                    "duplicate key `{}`",
                    name_of(self.layer, i)
                )));
            }
            seen[word] |= bit;
        }
        if let Some(missing) = (0..total).find(|i| seen[i / 64] & (1 << (i % 64)) == 0) {
            return Err(de::Error::custom(format_args!(
                "missing key `{}`",
                name_of(self.layer, missing)
            )));
        }
        let mut result = Ok(());
        self.layer.visit_arrays(&mut |key, _, values| {
            if result.is_ok() {
                result = check_values(key, values).map_err(de::Error::custom);
            }
        });
        result
    }
}

/// The key of entry `i` (arrays, then counters) of `layer`'s state dict.
struct EntryName<'a, L> {
    layer: &'a L,
    i: usize,
}

impl<L: crate::StateDict> fmt::Display for EntryName<'_, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut index, mut result) = (0, Ok(()));
        self.layer.visit_arrays(&mut |k, _, _| {
            if index == self.i {
                result = write!(f, "{k}");
            }
            index += 1;
        });
        self.layer.visit_counters(&mut |k, _| {
            if index == self.i {
                result = write!(f, "{k}");
            }
            index += 1;
        });
        result
    }
}

fn name_of<L: crate::StateDict>(layer: &L, i: usize) -> EntryName<'_, L> {
    EntryName { layer, i }
}

/// A map key, read as the index of the state-dict entry it names.
struct KeySeed<'a, L> {
    layer: &'a L,
}

impl<'de, L: crate::StateDict> DeserializeSeed<'de> for KeySeed<'_, L> {
    type Value = usize;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, L: crate::StateDict> Visitor<'de> for KeySeed<'_, L> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a state-dict key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        let (mut index, mut found) = (0, None);
        self.layer.visit_arrays(&mut |k, _, _| {
            if found.is_none() && k.is(key) {
                found = Some(index);
            }
            index += 1;
        });
        self.layer.visit_counters(&mut |k, _| {
            if found.is_none() && k.is(key) {
                found = Some(index);
            }
            index += 1;
        });
        found.ok_or_else(|| E::custom(format_args!("unknown key `{key}`")))
    }
}

/// How many arrays and counters `layer` has.
fn entries<L: crate::StateDict>(layer: &L) -> usize {
    let mut n = 0;
    layer.visit_arrays(&mut |_, _, _| n += 1);
    layer.visit_counters(&mut |_, _| n += 1);
    n
}

/// Reads a state dict written by [`serialize_state_dict`] into `layer`:
/// every array and counter exactly once, with its shape; an unknown,
/// duplicate or missing key is an error. On error `layer` may be partly
/// written: read into a fresh layer and keep it only when this succeeds.
///
/// # Errors
/// As above, or whatever the deserializer reports.
pub fn deserialize_state_dict<'de, D, L>(deserializer: D, layer: &mut L) -> Result<(), D::Error>
where
    D: Deserializer<'de>,
    L: crate::StateDict,
    L::Scalar: Deserialize<'de>,
{
    deserializer.deserialize_map(StateEntries { layer })
}

#[cfg(test)]
mod tests {
    use super::check_values;

    /// Running variances are found by their key's last name, however long
    /// the key; other arrays may be negative; nothing may be NaN or
    /// infinite.
    #[test]
    fn values_are_checked_by_key() {
        let negative = [1.0_f32, -0.5];
        for key in [
            "running_var",
            "bn.running_var",
            "a.very.long.path.of.layers.bn3.running_var",
        ] {
            let e = check_values(key, &negative).err().map(|e| e.to_string());
            assert_eq!(
                e,
                Some(format!("`{key}` has a negative variance at index 1"))
            );
        }
        for key in [
            "weight",
            "running_mean",
            "xrunning_var",
            "running_variance.weight",
        ] {
            assert!(check_values(key, &negative).is_ok(), "{key}");
        }
        let e = check_values("bias", &[0.0, f64::INFINITY])
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            e.as_deref(),
            Some("`bias` has a NaN or infinite value at index 1")
        );
    }
}
