//! # marmot-lake
//!
//! Owns everything Marmot stores: the lake root (an object_store URL: a local directory by
//! default, `s3://...` in production), its Delta tables, and the way data gets in.
//!
//! ```text
//! partner file ──read──> Arrow batches ──validate (contract)──> accepted rows ──> Parquet parts ─┐
//!      │                                   └──> rejected rows (row, column, reason) ──> quarantine │
//!      └──> raw/ copy (byte for byte)                                                            │
//!                                              ONE Delta commit (adds + removes + metadata) <────┘
//! ```
//! A reader sees all of an ingest or none of it: data files, the raw copy and the quarantine
//! file are written first and only become part of the lake when the Delta commit that names
//! them succeeds. A killed ingest leaves unreferenced files and an unchanged table.
//!
//! Modules: [`store`] (lake root, Delta tables, commits), [`catalog`] (the contracts and
//! mappings a lake knows, shipped and its own), [`mapping`] (a source mapping applied to a
//! partner's file), [`read`] (CSV/Parquet input),
//! [`validate`] (pure row validation), [`pseudonym`] (keyed hashing of identifiers),
//! [`ingest`] (the whole ingest), [`reference`] (reference tables for a place), [`demo`] (the
//! seeded demo lake generator), [`remote`] (object stores: local files or S3-compatible servers).
#![warn(missing_docs)]

pub mod catalog;
pub mod demo;
mod error;
pub mod ingest;
pub mod mapping;
pub mod pseudonym;
pub mod read;
pub mod reference;
pub mod remote;
pub mod store;
pub mod validate;

pub use error::LakeError;
pub use pseudonym::Pseudonymiser;
pub use store::{Lake, Manifest};
