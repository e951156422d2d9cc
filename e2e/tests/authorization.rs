//! Scenario 7: the authorisation matrix. Every role, acting on a resource
//! of its own tenant and on one of another tenant, plus no key and a wrong
//! key, on every endpoint of the three services running as separate
//! processes (`tracechain serve registry|shipments|ledger`), is checked
//! against ONE table: [`TABLE`].
//!
//! The world the table is asked about has two sides, each a manufacturer
//! shipping with its carrier: side A is `acme` → `fastfreight` (and
//! `acme`'s finance team), side B is `globex` → `lastmile`. Each side has a
//! product, lot `L1` with items, a shipment picked up by the carrier's
//! registered phone, and the ledger events of all that. Every row is asked
//! once about side A's resource and once about side B's; a principal's
//! column is its relation to that resource (see [`column`]), so each
//! "own"/"other" cell is exercised by two different tenants.
//!
//! Requests are ones that succeed when allowed (valid bodies, real ids);
//! a request that changes state acts on a resource made for it alone, so
//! the order of the requests does not matter. Every mismatch is collected
//! and reported as one table. A second test checks that every operation of
//! the checked-in OpenAPI documents has a row, and that a row's no-key cell
//! agrees with the operation's documented `security`.
//!
//! No settlement service runs in this deployment, so the settlement events
//! whose visibility the ledger decides are published by the test onto a
//! topic the ledger reads (see [`inject_settlement`]), as the settlement
//! service would publish them onto `settlement.events`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use tracechain_core::SigningKey;
use tracechain_domain::{Envelope, EventType, TenantId};
use tracechain_e2e::client::{self, Api, Phone};
use tracechain_e2e::{Deployment, Keys, Options};

// ---------------------------------------------------------------------------
// The table.
// ---------------------------------------------------------------------------

/// What one request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Allowed: exactly this 2xx status.
    Allowed(u16),
    /// Allowed (200), and the row's resource is in the answer (a list, or
    /// the SSCC resolver's full shipment).
    Listed,
    /// Allowed (200), and the row's resource is NOT in the answer: another
    /// tenant's, filtered out (or the SSCC resolver's public view only).
    Unlisted,
    /// 401: no key, a key the service does not know, or a scan whose
    /// signature is not the device's.
    Unauthorized,
    /// 403: the role may not do this at all, or a carrier names another
    /// carrier in the path, or a phone scans a shipment it does not hold.
    Forbidden,
    /// 404: another tenant's resource, answered exactly like a missing one.
    Hidden,
    /// 422: another tenant's item, to a shipper, is an unknown item.
    Unknown,
    /// A scan batch answered 200 whose one scan got this status.
    InBatch(u16),
    /// Not asked: a public row's keyed columns; roles with no phone on
    /// the scan rows (scans carry no API key).
    Skip,
}

use Expect::{Allowed, Forbidden, Hidden, InBatch, Listed, Skip, Unauthorized, Unknown, Unlisted};

// Four-letter names so the table reads as a grid.
/// Allowed, 200.
const R200: Expect = Allowed(200);
/// Allowed, 201 Created.
const C201: Expect = Allowed(201);
/// Allowed, 202 Accepted.
const A202: Expect = Allowed(202);
/// 401.
const U401: Expect = Unauthorized;
/// 403.
const F403: Expect = Forbidden;
/// 404, another tenant's resource hidden.
const H404: Expect = Hidden;
/// 422, another tenant's item unknown to a shipper.
const I422: Expect = Unknown;
/// 200 and the resource listed.
const LIST: Expect = Listed;
/// 200 and the resource not listed.
const UNLS: Expect = Unlisted;
/// A batch whose scan was accepted.
const B202: Expect = InBatch(202);
/// A batch whose scan was refused: not the custodian.
const B403: Expect = InBatch(403);
/// A batch whose scan was refused: forged signature.
const B401: Expect = InBatch(401);
/// Not asked.
const SKIP: Expect = Skip;

/// Who asks, relative to the row's resource: the table's columns, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Column {
    /// The manufacturer that owns the resource (or ships it).
    ManufacturerOwn,
    /// The other manufacturer.
    ManufacturerOther,
    /// The carrier the resource's manufacturer ships with (for devices: the
    /// carrier that owns the device).
    CarrierOwn,
    /// The other carrier.
    CarrierOther,
    /// The finance team of the resource's manufacturer.
    FinanceOwn,
    /// The finance team of another tenant.
    FinanceOther,
    /// The auditor (tenant `audit-co`, owns nothing).
    Auditor,
    /// The admin (tenant `ops`, owns nothing).
    Admin,
    /// No `Authorization` header.
    NoKey,
    /// A well-formed key that is in no key table (for scans: a signature
    /// by a key that is not the device's).
    WrongKey,
}

impl Column {
    /// How the failure report names it.
    fn label(self) -> &'static str {
        match self {
            Column::ManufacturerOwn => "own tenant",
            Column::ManufacturerOther => "other tenant",
            Column::CarrierOwn => "own tenant",
            Column::CarrierOther => "other tenant",
            Column::FinanceOwn => "own tenant",
            Column::FinanceOther => "other tenant",
            Column::Auditor | Column::Admin => "any tenant",
            Column::NoKey | Column::WrongKey => "-",
        }
    }
}

/// One row: an endpoint (and how to call it) and its expected outcome for
/// each [`Column`], in the columns' order.
#[derive(Debug, Clone, Copy)]
struct Row {
    /// The endpoint.
    op: Op,
    /// One cell per column.
    cells: [Expect; 10],
}

const fn row(op: Op, cells: [Expect; 10]) -> Row {
    Row { op, cells }
}

/// THE table. Columns:
///
/// manufacturer own, manufacturer other, carrier own, carrier other,
/// finance own, finance other, auditor, admin, no key, wrong key.
///
/// The cells say what is right for a multi-tenant traceability platform;
/// where the services disagree, the test fails.
#[rustfmt::skip]
const TABLE: &[Row] = &[
    //                                     Mown  Moth  Cown  Coth  Fown  Foth  Audt  Admn  NoKy  Wrng
    // registry: the public GS1 Digital Link resolver: no key needed, and
    // a key changes nothing, so a wrong one is ignored.
    row(Op::ResolveProduct,               [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::ResolveLot,                   [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::ResolveLotSerial,             [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::ResolveLotSerialPng,          [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::ResolveLotSerialSvg,          [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::ResolveSerial,                [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::ResolveSerialPng,             [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::ResolveSerialSvg,             [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    // registry: products, lots, items. Manufacturers see and change their
    // own; auditors read all; admins read and change all; carriers and
    // finance have no business in the registry's API.
    row(Op::ListProducts,                 [LIST, UNLS, F403, F403, F403, F403, LIST, LIST, U401, U401]),
    row(Op::FindProductByGtin,            [LIST, UNLS, F403, F403, F403, F403, LIST, LIST, U401, U401]),
    row(Op::RegisterProduct,              [C201, F403, F403, F403, F403, F403, F403, C201, U401, U401]),
    row(Op::GetProduct,                   [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::ListLots,                     [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::CreateLot,                    [C201, H404, F403, F403, F403, F403, F403, C201, U401, U401]),
    row(Op::GetLot,                       [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::RecallLot,                    [R200, H404, F403, F403, F403, F403, F403, R200, U401, U401]),
    row(Op::ListItems,                    [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::SerializeItems,               [C201, H404, F403, F403, F403, F403, F403, C201, U401, U401]),
    row(Op::GetItem,                      [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::ItemQrPng,                    [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::ItemQrSvg,                    [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::LabelsPdf,                    [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    row(Op::LabelsSvg,                    [R200, H404, F403, F403, F403, F403, R200, R200, U401, U401]),
    // shipments: the public SSCC resolver answers everyone, and the whole
    // shipment only to a key that may read it; a wrong key is refused.
    row(Op::ResolveSscc,                  [LIST, UNLS, LIST, UNLS, UNLS, UNLS, LIST, LIST, UNLS, U401]),
    // shipments: the shipper and the carriers holding it read it; finance
    // does not read shipments; another manufacturer's item is unknown.
    row(Op::ListShipments,                [LIST, UNLS, LIST, UNLS, F403, F403, LIST, LIST, U401, U401]),
    row(Op::CreateShipment,               [C201, I422, F403, F403, F403, F403, F403, C201, U401, U401]),
    row(Op::GetShipment,                  [R200, H404, R200, H404, F403, F403, R200, R200, U401, U401]),
    row(Op::LabelPng,                     [R200, H404, R200, H404, F403, F403, R200, R200, U401, U401]),
    row(Op::LabelSvg,                     [R200, H404, R200, H404, F403, F403, R200, R200, U401, U401]),
    // shipments: a carrier manages its own phones (admins any); the path
    // names the carrier, so another carrier's path is a plain 403, and
    // another carrier's device under the caller's own path is not found.
    row(Op::ListDevices,                  [F403, F403, LIST, F403, F403, F403, F403, LIST, U401, U401]),
    row(Op::RegisterDevice,               [F403, F403, C201, F403, F403, F403, F403, C201, U401, U401]),
    row(Op::GetDevice,                    [F403, F403, R200, F403, F403, F403, F403, R200, U401, U401]),
    row(Op::GetDeviceViaCallersPath,      [F403, F403, R200, H404, F403, F403, F403, R200, U401, U401]),
    row(Op::RevokeDevice,                 [F403, F403, R200, F403, F403, F403, F403, R200, U401, U401]),
    row(Op::RevokeDeviceViaCallersPath,   [F403, F403, R200, H404, F403, F403, F403, R200, U401, U401]),
    // shipments: scans carry no API key; the credential is the device's
    // signature. A carrier's phone scans what the carrier holds.
    row(Op::PostScan,                     [SKIP, SKIP, A202, F403, SKIP, SKIP, SKIP, SKIP, SKIP, U401]),
    row(Op::PostScanBatch,                [SKIP, SKIP, B202, B403, SKIP, SKIP, SKIP, SKIP, SKIP, B401]),
    // ledger: public checkpoint and keys (a key changes nothing there);
    // headers, hashes and proofs for any key; an event's body only for its
    // parties, auditors and admins.
    row(Op::Checkpoint,                   [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::LedgerKeys,                   [SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, SKIP, R200, R200]),
    row(Op::Head,                         [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::LedgerStatus,                 [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::ListBlocks,                   [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::GetBlock,                     [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::Consistency,                  [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::Event(Kind::Product),         [R200, H404, H404, H404, R200, H404, R200, R200, U401, U401]),
    row(Op::Event(Kind::Shipment),        [R200, H404, R200, H404, R200, H404, R200, R200, U401, U401]),
    row(Op::Event(Kind::Device),          [H404, H404, R200, H404, H404, H404, R200, R200, U401, U401]),
    row(Op::Event(Kind::Scan),            [R200, H404, R200, H404, R200, H404, R200, R200, U401, U401]),
    // A settlement between globex and lastmile is none of acme's finance
    // team's business: F oth is 404, as for every other tenant's event.
    row(Op::Event(Kind::Settlement),      [R200, H404, R200, H404, R200, H404, R200, R200, U401, U401]),
    row(Op::Proof(Kind::Product),         [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::Proof(Kind::Shipment),        [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::Proof(Kind::Device),          [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::Proof(Kind::Scan),            [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
    row(Op::Proof(Kind::Settlement),      [R200, R200, R200, R200, R200, R200, R200, R200, U401, U401]),
];

// ---------------------------------------------------------------------------
// Endpoints.
// ---------------------------------------------------------------------------

/// The three services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Service {
    Registry,
    Shipments,
    Ledger,
}

impl Service {
    /// All three.
    const ALL: [Service; 3] = [Service::Registry, Service::Shipments, Service::Ledger];

    /// Its name, as in `openapi/<name>.json`.
    fn name(self) -> &'static str {
        match self {
            Service::Registry => "registry",
            Service::Shipments => "shipments",
            Service::Ledger => "ledger",
        }
    }
}

/// GET or POST (the only methods the APIs have).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A ledger event of each kind a side has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// `product.registered` of the side's product (parties: manufacturer).
    Product,
    /// `shipment.created` of the side's shipment (manufacturer, carrier).
    Shipment,
    /// `device.registered` of the side's phone (carrier).
    Device,
    /// `scan.recorded` of the side's pickup (manufacturer, carrier).
    Scan,
    /// `settlement.posted` of the side's shipment (manufacturer, carrier).
    Settlement,
}

/// What a row calls (several rows may call one documented operation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    ResolveProduct,
    ResolveLot,
    ResolveLotSerial,
    ResolveLotSerialPng,
    ResolveLotSerialSvg,
    ResolveSerial,
    ResolveSerialPng,
    ResolveSerialSvg,
    ListProducts,
    /// `GET /v1/products?gtin=`.
    FindProductByGtin,
    RegisterProduct,
    GetProduct,
    ListLots,
    CreateLot,
    GetLot,
    RecallLot,
    ListItems,
    SerializeItems,
    GetItem,
    ItemQrPng,
    ItemQrSvg,
    LabelsPdf,
    LabelsSvg,
    ResolveSscc,
    ListShipments,
    CreateShipment,
    GetShipment,
    LabelPng,
    LabelSvg,
    ListDevices,
    RegisterDevice,
    GetDevice,
    /// A carrier asks under its OWN carrier path for the side's device.
    GetDeviceViaCallersPath,
    RevokeDevice,
    /// A carrier revokes under its OWN carrier path the side's device.
    RevokeDeviceViaCallersPath,
    PostScan,
    PostScanBatch,
    Checkpoint,
    LedgerKeys,
    Head,
    LedgerStatus,
    ListBlocks,
    GetBlock,
    Consistency,
    Event(Kind),
    Proof(Kind),
}

impl Op {
    /// The documented operation: service, method and path template as
    /// written in `openapi/<service>.json`.
    fn endpoint(self) -> (Service, Method, &'static str) {
        use Method::{Get, Post};
        use Service::{Ledger, Registry, Shipments};
        match self {
            Op::ResolveProduct => (Registry, Get, "/01/{gtin}"),
            Op::ResolveLot => (Registry, Get, "/01/{gtin}/10/{lot}"),
            Op::ResolveLotSerial => (Registry, Get, "/01/{gtin}/10/{lot}/21/{serial}"),
            Op::ResolveLotSerialPng => (Registry, Get, "/01/{gtin}/10/{lot}/21/{serial}/qr.png"),
            Op::ResolveLotSerialSvg => (Registry, Get, "/01/{gtin}/10/{lot}/21/{serial}/qr.svg"),
            Op::ResolveSerial => (Registry, Get, "/01/{gtin}/21/{serial}"),
            Op::ResolveSerialPng => (Registry, Get, "/01/{gtin}/21/{serial}/qr.png"),
            Op::ResolveSerialSvg => (Registry, Get, "/01/{gtin}/21/{serial}/qr.svg"),
            Op::ListProducts | Op::FindProductByGtin => (Registry, Get, "/v1/products"),
            Op::RegisterProduct => (Registry, Post, "/v1/products"),
            Op::GetProduct => (Registry, Get, "/v1/products/{id}"),
            Op::ListLots => (Registry, Get, "/v1/products/{id}/lots"),
            Op::CreateLot => (Registry, Post, "/v1/products/{id}/lots"),
            Op::GetLot => (Registry, Get, "/v1/products/{id}/lots/{lot}"),
            Op::RecallLot => (Registry, Post, "/v1/products/{id}/lots/{lot}/recall"),
            Op::ListItems => (Registry, Get, "/v1/products/{id}/lots/{lot}/items"),
            Op::SerializeItems => (Registry, Post, "/v1/products/{id}/lots/{lot}/items"),
            Op::GetItem => (Registry, Get, "/v1/products/{id}/lots/{lot}/items/{serial}"),
            Op::ItemQrPng => (
                Registry,
                Get,
                "/v1/products/{id}/lots/{lot}/items/{serial}/qr.png",
            ),
            Op::ItemQrSvg => (
                Registry,
                Get,
                "/v1/products/{id}/lots/{lot}/items/{serial}/qr.svg",
            ),
            Op::LabelsPdf => (Registry, Get, "/v1/products/{id}/lots/{lot}/labels.pdf"),
            Op::LabelsSvg => (Registry, Get, "/v1/products/{id}/lots/{lot}/labels.svg"),
            Op::ResolveSscc => (Shipments, Get, "/00/{sscc}"),
            Op::ListShipments => (Shipments, Get, "/v1/shipments"),
            Op::CreateShipment => (Shipments, Post, "/v1/shipments"),
            Op::GetShipment => (Shipments, Get, "/v1/shipments/{id}"),
            Op::LabelPng => (Shipments, Get, "/v1/shipments/{id}/label.png"),
            Op::LabelSvg => (Shipments, Get, "/v1/shipments/{id}/label.svg"),
            Op::ListDevices => (Shipments, Get, "/v1/carriers/{carrier}/devices"),
            Op::RegisterDevice => (Shipments, Post, "/v1/carriers/{carrier}/devices"),
            Op::GetDevice | Op::GetDeviceViaCallersPath => {
                (Shipments, Get, "/v1/carriers/{carrier}/devices/{device}")
            }
            Op::RevokeDevice | Op::RevokeDeviceViaCallersPath => (
                Shipments,
                Post,
                "/v1/carriers/{carrier}/devices/{device}/revoke",
            ),
            Op::PostScan => (Shipments, Post, "/v1/scans"),
            Op::PostScanBatch => (Shipments, Post, "/v1/scans/batch"),
            Op::Checkpoint => (Ledger, Get, "/v1/checkpoint"),
            Op::LedgerKeys => (Ledger, Get, "/v1/keys"),
            Op::Head => (Ledger, Get, "/v1/head"),
            Op::LedgerStatus => (Ledger, Get, "/v1/status"),
            Op::ListBlocks => (Ledger, Get, "/v1/blocks"),
            Op::GetBlock => (Ledger, Get, "/v1/blocks/{height}"),
            Op::Consistency => (Ledger, Get, "/v1/consistency"),
            Op::Event(_) => (Ledger, Get, "/v1/events/{event_id}"),
            Op::Proof(_) => (Ledger, Get, "/v1/events/{event_id}/proof"),
        }
    }
}

// ---------------------------------------------------------------------------
// Principals and sides.
// ---------------------------------------------------------------------------

/// The two sides of the world (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// `acme` ships with `fastfreight`; `acme` has the finance team.
    A,
    /// `globex` ships with `lastmile`.
    B,
}

/// Who sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Acme,
    Globex,
    Fastfreight,
    Lastmile,
    Finance,
    Auditor,
    Admin,
    NoKey,
    WrongKey,
}

impl Who {
    const ALL: [Who; 9] = [
        Who::Acme,
        Who::Globex,
        Who::Fastfreight,
        Who::Lastmile,
        Who::Finance,
        Who::Auditor,
        Who::Admin,
        Who::NoKey,
        Who::WrongKey,
    ];

    /// `tenant (role)`, for the report.
    fn label(self) -> &'static str {
        match self {
            Who::Acme => "acme (manufacturer)",
            Who::Globex => "globex (manufacturer)",
            Who::Fastfreight => "fastfreight (carrier)",
            Who::Lastmile => "lastmile (carrier)",
            Who::Finance => "acme (finance)",
            Who::Auditor => "audit-co (auditor)",
            Who::Admin => "ops (admin)",
            Who::NoKey => "no key",
            Who::WrongKey => "wrong key",
        }
    }

    /// The `Authorization: Bearer` key it sends.
    fn key(self, keys: &Keys) -> Option<String> {
        match self {
            Who::Acme => Some(keys.acme.clone()),
            Who::Globex => Some(keys.globex.clone()),
            Who::Fastfreight => Some(keys.fastfreight.clone()),
            Who::Lastmile => Some(keys.lastmile.clone()),
            Who::Finance => Some(keys.finance.clone()),
            Who::Auditor => Some(keys.auditor.clone()),
            Who::Admin => Some(keys.admin.clone()),
            Who::NoKey => None,
            // Well-formed (`tc_` + 43 base64url characters), in no table.
            Who::WrongKey => Some("tc_Wr0ngKeyForTheAuthorizationMatrix0000000000".to_owned()),
        }
    }

    /// The carrier it is, if it is one.
    fn carrier_side(self) -> Option<Side> {
        match self {
            Who::Fastfreight => Some(Side::A),
            Who::Lastmile => Some(Side::B),
            _ => None,
        }
    }
}

/// The column `who` falls in when asked about `side`'s resource.
fn column(who: Who, side: Side) -> Column {
    let own = |mine: Side, yes: Column, no: Column| if mine == side { yes } else { no };
    match who {
        Who::Acme => own(Side::A, Column::ManufacturerOwn, Column::ManufacturerOther),
        Who::Globex => own(Side::B, Column::ManufacturerOwn, Column::ManufacturerOther),
        Who::Fastfreight => own(Side::A, Column::CarrierOwn, Column::CarrierOther),
        Who::Lastmile => own(Side::B, Column::CarrierOwn, Column::CarrierOther),
        Who::Finance => own(Side::A, Column::FinanceOwn, Column::FinanceOther),
        Who::Auditor => Column::Auditor,
        Who::Admin => Column::Admin,
        Who::NoKey => Column::NoKey,
        Who::WrongKey => Column::WrongKey,
    }
}

// ---------------------------------------------------------------------------
// The world the table is asked about.
// ---------------------------------------------------------------------------

/// One side's tenants and resources.
#[derive(Debug)]
struct Party {
    /// The manufacturer's tenant.
    manufacturer: &'static str,
    /// The carrier's tenant.
    carrier: &'static str,
    /// The manufacturer's key.
    manufacturer_key: String,
    /// The carrier's key.
    carrier_key: String,
    /// The product (id), with lot `L1` holding the items.
    product_id: String,
    /// Its GTIN-14.
    gtin: String,
    /// A serial of lot `L1`, in the side's shipment.
    serial: String,
    /// The shipment of the side's manufacturer with its carrier, picked up.
    shipment_id: String,
    /// That shipment's SSCC.
    sscc: String,
    /// The carrier's registered phone (the one that picked it up).
    phone: Phone,
    /// Serialised items in no shipment yet, for shipments made by requests.
    pool: Mutex<Vec<String>>,
    /// The side's anchored events, by kind.
    events: BTreeMap<Kind, String>,
}

impl Party {
    /// A not-yet-shipped item of this side.
    fn fresh_item(&self) -> String {
        self.pool
            .lock()
            .unwrap()
            .pop()
            .expect("the item pool is large enough for every request that ships")
    }
}

/// Everything a request is built from.
#[derive(Debug)]
struct World {
    api: Api,
    registry: String,
    shipments: String,
    ledger: String,
    keys: Keys,
    a: Party,
    b: Party,
}

impl World {
    fn side(&self, side: Side) -> &Party {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    fn base(&self, service: Service) -> &str {
        match service {
            Service::Registry => &self.registry,
            Service::Shipments => &self.shipments,
            Service::Ledger => &self.ledger,
        }
    }
}

/// A unique suffix for names made during the run (lots, serials).
fn fresh(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}{:06}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Items seeded per side: a few shipped at set-up, the rest a pool for the
/// requests that ship (every `CreateShipment` request and every scan
/// request takes its own).
const ITEMS_PER_SIDE: usize = 40;

/// Builds both sides, and waits until the ledger has anchored every event
/// the ledger rows ask about.
async fn build_world(system: &Deployment, api: &Api) -> World {
    let (a, b) = tokio::join!(
        build_party(
            system,
            api,
            "acme",
            "fastfreight",
            &system.keys.acme,
            &system.keys.fastfreight
        ),
        build_party(
            system,
            api,
            "globex",
            "lastmile",
            &system.keys.globex,
            &system.keys.lastmile
        ),
    );
    let mut world = World {
        api: api.clone(),
        registry: system.urls.registry.clone(),
        shipments: system.urls.shipments.clone(),
        ledger: system.urls.ledger.clone(),
        keys: system.keys.clone(),
        a,
        b,
    };
    for party in [&mut world.a, &mut world.b] {
        let settlement = inject_settlement(
            &system.options.brokers,
            &system.topics.registry,
            &party.shipment_id,
            [party.manufacturer, party.carrier],
        )
        .await;
        party.events.insert(Kind::Settlement, settlement);
    }
    let wanted: Vec<(&str, String)> = [&world.a, &world.b]
        .iter()
        .flat_map(|p| {
            [
                ("product.registered", p.product_id.clone()),
                ("shipment.created", p.shipment_id.clone()),
                ("device.registered", p.phone.device_id.clone()),
            ]
        })
        .collect();
    let found = anchored(api, &world.ledger, &world.keys.auditor, &wanted).await;
    for party in [&mut world.a, &mut world.b] {
        for (kind, event_type, aggregate) in [
            (Kind::Product, "product.registered", &party.product_id),
            (Kind::Shipment, "shipment.created", &party.shipment_id),
            (Kind::Device, "device.registered", &party.phone.device_id),
        ] {
            let id = found[&(event_type.to_owned(), aggregate.clone())].clone();
            party.events.insert(kind, id);
        }
    }
    // The scan and settlement ids are known; wait until they are anchored too.
    let known: Vec<String> = [&world.a, &world.b]
        .iter()
        .flat_map(|p| {
            [
                p.events[&Kind::Scan].clone(),
                p.events[&Kind::Settlement].clone(),
            ]
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(45);
    for id in known {
        loop {
            let url = format!("{}/v1/events/{id}", world.ledger);
            let (status, body) = api.get(&url, &world.keys.auditor).await;
            if status == 200 {
                break;
            }
            assert!(
                status == 404 && Instant::now() < deadline,
                "event {id} not anchored: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    world
}

/// A product with `ITEMS_PER_SIDE` items, a shipment of two of them with
/// `carrier`, the carrier's phone, and its pickup scan.
async fn build_party(
    system: &Deployment,
    api: &Api,
    manufacturer: &'static str,
    carrier: &'static str,
    manufacturer_key: &str,
    carrier_key: &str,
) -> Party {
    let (registry, shipments) = (&system.urls.registry, &system.urls.shipments);
    let mut links = client::seed_items(api, registry, manufacturer_key, ITEMS_PER_SIDE).await;
    // `{base}/01/{gtin}/10/L1/21/{serial}`
    let parts: Vec<&str> = links[0].rsplit('/').collect();
    let (serial, gtin) = (parts[0].to_owned(), parts[4].to_owned());
    let found = api
        .get_ok(
            &format!("{registry}/v1/products?gtin={gtin}"),
            manufacturer_key,
        )
        .await;
    let product_id = found["items"][0]["id"]
        .as_str()
        .expect("the product")
        .to_owned();
    let shipped: Vec<String> = links.drain(..2).collect();
    let shipment = client::ship(api, shipments, manufacturer_key, carrier, &shipped).await;
    let phone = Phone::register(api, shipments, carrier, carrier_key).await;
    let label = shipment["label_uri"].as_str().expect("a label URI");
    let (status, accepted) = api
        .post(
            &format!("{shipments}/v1/scans"),
            None,
            &phone.scan(label, "pickup"),
        )
        .await;
    assert_eq!(status, 202, "the set-up pickup: {accepted}");
    let scan = accepted["event_id"]
        .as_str()
        .expect("the scan's event id")
        .to_owned();
    Party {
        manufacturer,
        carrier,
        manufacturer_key: manufacturer_key.to_owned(),
        carrier_key: carrier_key.to_owned(),
        product_id,
        gtin,
        serial,
        shipment_id: shipment["id"].as_str().expect("a shipment id").to_owned(),
        sscc: shipment["sscc"].as_str().expect("an SSCC").to_owned(),
        phone,
        pool: Mutex::new(links),
        events: BTreeMap::from([(Kind::Scan, scan)]),
    }
}

/// Publishes a `settlement.posted` event between `parties` about
/// `shipment` onto `topic` (one the ledger reads), encoded as the bus
/// encodes envelopes (RFC 8785 bytes, the `tc-*` headers); its id.
///
/// The settlement service would publish it onto `settlement.events`; none
/// runs in this deployment, and the registry's and shipments' projections
/// skip event types (and producers) they do not know.
async fn inject_settlement(
    brokers: &str,
    topic: &str,
    shipment: &str,
    parties: [&str; 2],
) -> String {
    let envelope = Envelope::new(
        EventType::parse("settlement.posted").expect("a valid event type"),
        shipment,
        "settlement",
        parties
            .iter()
            .map(|p| TenantId::parse(p).expect("a tenant id"))
            .collect::<BTreeSet<_>>(),
        json!({"shipment_id": shipment, "amount_minor": 12_500, "currency": "EUR"}),
    );
    let bytes = envelope.canonical_bytes().expect("canonical bytes");
    let id = envelope.id().to_string();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("message.timeout.ms", "15000")
        .create()
        .expect("a producer");
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "tc-event-id",
            value: Some(id.as_str()),
        })
        .insert(Header {
            key: "tc-event-type",
            value: Some("settlement.posted"),
        })
        .insert(Header {
            key: "tc-schema-version",
            value: Some("1"),
        })
        .insert(Header {
            key: "content-type",
            value: Some("application/json"),
        });
    producer
        .send(
            FutureRecord::to(topic)
                .key(shipment)
                .payload(bytes.as_slice())
                .headers(headers),
            Duration::from_secs(15),
        )
        .await
        .unwrap_or_else(|(error, _)| panic!("publishing the settlement event: {error}"));
    id
}

/// Walks the ledger's blocks (as the auditor) until every `(type,
/// aggregate id)` of `wanted` is anchored; their event ids.
async fn anchored(
    api: &Api,
    ledger: &str,
    auditor: &str,
    wanted: &[(&str, String)],
) -> HashMap<(String, String), String> {
    let types: BTreeSet<&str> = wanted.iter().map(|(t, _)| *t).collect();
    let deadline = Instant::now() + Duration::from_secs(45);
    let mut found: HashMap<(String, String), String> = HashMap::new();
    let mut next_height = 0;
    loop {
        let (status, head) = api.get(&format!("{ledger}/v1/head"), auditor).await;
        if status == 200 {
            let height = head["height"].as_u64().expect("a height");
            while next_height <= height {
                let block = api
                    .get_ok(&format!("{ledger}/v1/blocks/{next_height}"), auditor)
                    .await;
                for event in block["events"].as_array().expect("the block's events") {
                    let (Some(id), Some(event_type)) =
                        (event["event_id"].as_str(), event["type"].as_str())
                    else {
                        continue;
                    };
                    if !types.contains(event_type) {
                        continue;
                    }
                    let body = api
                        .get_ok(&format!("{ledger}/v1/events/{id}"), auditor)
                        .await;
                    let aggregate = body["event"]["aggregate_id"].as_str().unwrap_or_default();
                    found.insert((event_type.to_owned(), aggregate.to_owned()), id.to_owned());
                }
                next_height += 1;
            }
        }
        if wanted
            .iter()
            .all(|(t, a)| found.contains_key(&((*t).to_owned(), a.clone())))
        {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "the ledger did not anchor all of {wanted:?} within 45 s; found {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

// ---------------------------------------------------------------------------
// Requests.
// ---------------------------------------------------------------------------

/// A request, ready to send, and what its answer is checked for.
#[derive(Debug)]
struct Request {
    service: Service,
    method: Method,
    /// Path and query, as sent.
    path: String,
    /// The JSON body of a POST (`None`: no body).
    body: Option<Value>,
    /// The bearer key sent, if any.
    key: Option<String>,
    /// For [`Listed`] / [`Unlisted`]: the id whose presence is checked.
    marker: Option<String>,
    /// For an allowed creation: fields the created resource must have
    /// (the side's tenants), so an admin acts for the tenant it named.
    owner: Vec<(&'static str, String)>,
}

/// Builds `op`'s request as `who` about `side`'s resource, making first
/// whatever fresh resource the request changes.
async fn build(world: &World, op: Op, side: Side, who: Who) -> Request {
    let (service, method, _) = op.endpoint();
    let party = world.side(side);
    let api = &world.api;
    let (id, gtin, serial) = (&party.product_id, &party.gtin, &party.serial);
    let shipment = &party.shipment_id;
    let carrier = party.carrier;
    let device = &party.phone.device_id;
    // A carrier's own path, for the "via caller's path" rows.
    let callers_carrier = match who.carrier_side() {
        Some(mine) => world.side(mine).carrier,
        None => carrier,
    };
    let mut body = None;
    let mut marker = None;
    let mut owner = Vec::new();
    let mut key = who.key(&world.keys);
    let path = match op {
        Op::ResolveProduct => format!("/01/{gtin}?format=json"),
        Op::ResolveLot => format!("/01/{gtin}/10/L1?format=json"),
        Op::ResolveLotSerial => format!("/01/{gtin}/10/L1/21/{serial}?format=json"),
        Op::ResolveLotSerialPng => format!("/01/{gtin}/10/L1/21/{serial}/qr.png"),
        Op::ResolveLotSerialSvg => format!("/01/{gtin}/10/L1/21/{serial}/qr.svg"),
        Op::ResolveSerial => format!("/01/{gtin}/21/{serial}?format=json"),
        Op::ResolveSerialPng => format!("/01/{gtin}/21/{serial}/qr.png"),
        Op::ResolveSerialSvg => format!("/01/{gtin}/21/{serial}/qr.svg"),
        Op::ListProducts => {
            marker = Some(id.clone());
            "/v1/products?limit=100".to_owned()
        }
        Op::FindProductByGtin => {
            marker = Some(id.clone());
            format!("/v1/products?gtin={gtin}")
        }
        Op::RegisterProduct => {
            // Registering FOR the side's manufacturer: its own, another's
            // (refused), or an admin naming it.
            body = Some(json!({
                "gtin": client::fresh_gtin(),
                "name": "authorisation matrix tea 250 g",
                "manufacturer": party.manufacturer,
            }));
            owner.push(("manufacturer", party.manufacturer.to_owned()));
            "/v1/products".to_owned()
        }
        Op::GetProduct => format!("/v1/products/{id}"),
        Op::ListLots => format!("/v1/products/{id}/lots"),
        Op::CreateLot => {
            body = Some(json!({"lot": fresh("C"), "produced_at": "2026-11-02"}));
            owner.push(("product_id", id.clone()));
            format!("/v1/products/{id}/lots")
        }
        Op::GetLot => format!("/v1/products/{id}/lots/L1"),
        Op::RecallLot => {
            let lot = new_lot(world, party).await;
            body = Some(json!({"reason": "authorisation matrix: seal check failed"}));
            format!("/v1/products/{id}/lots/{lot}/recall")
        }
        Op::ListItems => format!("/v1/products/{id}/lots/L1/items"),
        Op::SerializeItems => {
            body = Some(json!({"serials": [fresh("N")]}));
            owner.push(("product_id", id.clone()));
            format!("/v1/products/{id}/lots/L1/items")
        }
        Op::GetItem => format!("/v1/products/{id}/lots/L1/items/{serial}"),
        Op::ItemQrPng => format!("/v1/products/{id}/lots/L1/items/{serial}/qr.png"),
        Op::ItemQrSvg => format!("/v1/products/{id}/lots/L1/items/{serial}/qr.svg"),
        Op::LabelsPdf => format!("/v1/products/{id}/lots/L1/labels.pdf?sheets=1"),
        Op::LabelsSvg => format!("/v1/products/{id}/lots/L1/labels.svg"),
        Op::ResolveSscc => {
            // Only the full shipment (for a key that may read it) holds its id.
            marker = Some(shipment.clone());
            format!("/00/{}?format=json", party.sscc)
        }
        Op::ListShipments => {
            marker = Some(shipment.clone());
            "/v1/shipments?limit=100".to_owned()
        }
        Op::CreateShipment => {
            // The side's own item: shipped by its manufacturer, by another
            // (unknown to it), or by an admin naming the manufacturer.
            let mut request = client::shipment_body(carrier, &[party.fresh_item()]);
            if who == Who::Admin {
                request["manufacturer"] = json!(party.manufacturer);
            }
            body = Some(request);
            owner.push(("manufacturer", party.manufacturer.to_owned()));
            owner.push(("carrier_id", carrier.to_owned()));
            "/v1/shipments".to_owned()
        }
        Op::GetShipment => format!("/v1/shipments/{shipment}"),
        Op::LabelPng => format!("/v1/shipments/{shipment}/label.png"),
        Op::LabelSvg => format!("/v1/shipments/{shipment}/label.svg"),
        Op::ListDevices => {
            marker = Some(device.clone());
            format!("/v1/carriers/{carrier}/devices?limit=100")
        }
        Op::RegisterDevice => {
            let public_key = SigningKey::generate().verifying_key().to_base64();
            body = Some(json!({"public_key": public_key, "label": "matrix phone"}));
            owner.push(("carrier_id", carrier.to_owned()));
            format!("/v1/carriers/{carrier}/devices")
        }
        Op::GetDevice => format!("/v1/carriers/{carrier}/devices/{device}"),
        Op::GetDeviceViaCallersPath => format!("/v1/carriers/{callers_carrier}/devices/{device}"),
        Op::RevokeDevice | Op::RevokeDeviceViaCallersPath => {
            let fresh_device = Phone::register(api, &world.shipments, carrier, &party.carrier_key)
                .await
                .device_id;
            let path_carrier = if op == Op::RevokeDevice {
                carrier
            } else {
                callers_carrier
            };
            format!("/v1/carriers/{path_carrier}/devices/{fresh_device}/revoke")
        }
        Op::PostScan | Op::PostScanBatch => {
            // No API key: the device's signature is the credential. A fresh
            // shipment of the side, still `created`, held by its carrier.
            key = None;
            let fresh_shipment = client::ship(
                api,
                &world.shipments,
                &party.manufacturer_key,
                carrier,
                &[party.fresh_item()],
            )
            .await;
            let label = fresh_shipment["label_uri"].as_str().expect("a label URI");
            let scan = match (who, who.carrier_side()) {
                (_, Some(mine)) => world.side(mine).phone.scan(label, "pickup"),
                (Who::WrongKey, None) => Phone {
                    key: SigningKey::generate(),
                    device_id: device.clone(),
                }
                .scan(label, "pickup"),
                _ => panic!("{op:?}: {who:?} has no phone; its cell must be SKIP"),
            };
            if op == Op::PostScan {
                body = Some(scan);
                "/v1/scans".to_owned()
            } else {
                body = Some(json!({"scans": [scan]}));
                "/v1/scans/batch".to_owned()
            }
        }
        Op::Checkpoint => "/v1/checkpoint".to_owned(),
        Op::LedgerKeys => "/v1/keys".to_owned(),
        Op::Head => "/v1/head".to_owned(),
        Op::LedgerStatus => "/v1/status".to_owned(),
        Op::ListBlocks => "/v1/blocks".to_owned(),
        Op::GetBlock => "/v1/blocks/0".to_owned(),
        Op::Consistency => "/v1/consistency?from=1".to_owned(),
        Op::Event(kind) => format!("/v1/events/{}", party.events[&kind]),
        Op::Proof(kind) => format!("/v1/events/{}/proof", party.events[&kind]),
    };
    Request {
        service,
        method,
        path,
        body,
        key,
        marker,
        owner,
    }
}

/// A fresh, empty lot of `party`'s product, made by its manufacturer.
async fn new_lot(world: &World, party: &Party) -> String {
    let lot = fresh("R");
    let (status, body) = world
        .api
        .post(
            &format!("{}/v1/products/{}/lots", world.registry, party.product_id),
            Some(&party.manufacturer_key),
            &json!({"lot": lot, "produced_at": "2026-11-03"}),
        )
        .await;
    assert_eq!(status, 201, "a fresh lot to recall: {body}");
    lot
}

/// Sends `request`; the status and the body (JSON, else the text as a
/// JSON string), or `None` without an answer.
async fn send(world: &World, request: &Request) -> Option<(u16, Value)> {
    let url = format!("{}{}", world.base(request.service), request.path);
    let mut builder = match request.method {
        Method::Get => world.api.client.get(&url),
        Method::Post => world.api.client.post(&url),
    };
    if let Some(body) = &request.body {
        builder = builder.json(body);
    }
    if let Some(key) = &request.key {
        builder = builder.bearer_auth(key);
    }
    let response = builder.send().await.ok()?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.ok()?;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Some((status, body))
}

/// Whether the answer meets `expect`: `Ok`, or what was got instead.
fn judge(expect: Expect, request: &Request, status: u16, body: &Value) -> Result<(), String> {
    let text = body.to_string();
    let listed = request.marker.as_deref().is_some_and(|m| text.contains(m));
    let got = || match status {
        200 if request.marker.is_some() => {
            format!("200 ({})", if listed { "listed" } else { "not listed" })
        }
        200 if matches!(expect, InBatch(_)) => {
            format!("batch scan {}", body["results"][0]["status"])
        }
        _ => status.to_string(),
    };
    let ok = match expect {
        Allowed(code) => status == code,
        Listed => status == 200 && listed,
        Unlisted => status == 200 && !listed,
        Unauthorized => status == 401,
        Forbidden => status == 403,
        Hidden => status == 404,
        Unknown => status == 422,
        InBatch(code) => status == 200 && body["results"][0]["status"] == json!(code),
        Skip => true,
    };
    if !ok {
        return Err(got());
    }
    if matches!(expect, Allowed(201)) {
        for (field, value) in &request.owner {
            if body[*field] != json!(value) {
                return Err(format!("{status}, but {field} = {}", body[*field]));
            }
        }
    }
    Ok(())
}

/// How `expect` reads in the report.
fn expected(expect: Expect) -> String {
    match expect {
        Allowed(code) => code.to_string(),
        Listed => "200 (listed)".to_owned(),
        Unlisted => "200 (not listed)".to_owned(),
        Unauthorized => "401".to_owned(),
        Forbidden => "403".to_owned(),
        Hidden => "404 (hidden)".to_owned(),
        Unknown => "422 (unknown item)".to_owned(),
        InBatch(code) => format!("batch scan {code}"),
        Skip => "-".to_owned(),
    }
}

/// What an answer says, shortened: a problem's detail (or title); for a
/// ledger event that was read, its type and parties (whose it is); else
/// the body.
fn problem(body: &Value) -> String {
    let nested = &body["results"][0]["problem"];
    let event = &body["event"];
    let text = [&body["detail"], &body["title"], &nested["detail"]]
        .into_iter()
        .find_map(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            event["type"].as_str().map(|event_type| {
                format!("read a {event_type} event of parties {}", event["parties"])
            })
        })
        .unwrap_or_else(|| match body {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        });
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() > 110 {
        format!("{}…", one_line.chars().take(110).collect::<String>())
    } else {
        one_line
    }
}

/// One cell that did not hold.
#[derive(Debug)]
struct Mismatch {
    who: &'static str,
    relation: &'static str,
    service: &'static str,
    method: &'static str,
    path: String,
    expected: String,
    got: String,
    detail: String,
}

/// The mismatches as an aligned text table.
fn report(mismatches: &[Mismatch]) -> String {
    let header = [
        "role",
        "tenant",
        "service",
        "method",
        "path",
        "expected",
        "got",
        "problem detail",
    ];
    let rows: Vec<[String; 8]> = mismatches
        .iter()
        .map(|m| {
            [
                m.who.to_owned(),
                m.relation.to_owned(),
                m.service.to_owned(),
                m.method.to_owned(),
                m.path.clone(),
                m.expected.clone(),
                m.got.clone(),
                m.detail.clone(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        let _ = writeln!(out, "  {}", padded.join(" | ").trim_end());
    };
    line(&header.map(str::to_owned));
    line(&widths.map(|w| "-".repeat(w)));
    for row in &rows {
        line(row);
    }
    out
}

// ---------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_role_on_every_endpoint_gets_what_the_table_says() {
    let started = Instant::now();
    let mut system = Deployment::start(Options::shared());
    let api = Api::new();
    let world = build_world(&system, &api).await;
    let ready = started.elapsed();

    let mut mismatches = Vec::new();
    let mut requests = 0;
    for row in TABLE {
        for side in [Side::A, Side::B] {
            for who in Who::ALL {
                let column = column(who, side);
                let expect = row.cells[column as usize];
                if expect == Skip {
                    continue;
                }
                let request = build(&world, row.op, side, who).await;
                requests += 1;
                let verdict = match send(&world, &request).await {
                    Some((status, body)) => {
                        judge(expect, &request, status, &body).map_err(|got| (got, problem(&body)))
                    }
                    None => Err(("no answer".to_owned(), String::new())),
                };
                if let Err((got, detail)) = verdict {
                    mismatches.push(Mismatch {
                        who: who.label(),
                        relation: column.label(),
                        service: request.service.name(),
                        method: request.method.as_str(),
                        path: request.path.clone(),
                        expected: expected(expect),
                        got,
                        detail,
                    });
                }
            }
        }
    }
    println!(
        "authorisation matrix: {} rows, {requests} requests; set-up {ready:?}, total {:?}",
        TABLE.len(),
        started.elapsed()
    );
    assert!(
        mismatches.is_empty(),
        "{} of {requests} requests did not get what the authorisation table says:\n{}",
        mismatches.len(),
        report(&mismatches)
    );
    system.stop();
}

/// Every operation of `openapi/{registry,shipments,ledger}.json`:
/// (service, method, path) → whether it requires a bearer key.
fn documented_operations() -> BTreeMap<(Service, Method, String), bool> {
    let mut operations = BTreeMap::new();
    for service in Service::ALL {
        let file = tracechain_e2e::workspace_root()
            .join("openapi")
            .join(format!("{}.json", service.name()));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|error| panic!("{}: {error}", file.display()));
        let document: Value = serde_json::from_str(&text).expect("an OpenAPI document");
        let global = document.get("security").cloned().unwrap_or(Value::Null);
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("a path item") {
                let method = match method.as_str() {
                    "get" => Method::Get,
                    "post" => Method::Post,
                    "parameters" | "summary" | "description" | "servers" => continue,
                    other => panic!(
                        "{}: {other} {path} has no Method here; add it",
                        service.name()
                    ),
                };
                // `security` absent: the document's; `[]` or `[{}]`: public.
                let security = operation.get("security").unwrap_or(&global);
                let keyed = security.as_array().is_some_and(|requirements| {
                    !requirements.is_empty()
                        && requirements
                            .iter()
                            .all(|r| r.as_object().is_some_and(|r| !r.is_empty()))
                });
                operations.insert((service, method, path.clone()), keyed);
            }
        }
    }
    operations
}

#[test]
fn every_documented_operation_has_a_row_that_agrees_with_its_security() {
    let documented = documented_operations();
    assert!(
        documented.len() > 40,
        "read the OpenAPI documents: {documented:?}"
    );
    let mut problems = Vec::new();
    let covered: BTreeSet<(Service, Method, String)> = TABLE
        .iter()
        .map(|row| {
            let (service, method, path) = row.op.endpoint();
            (service, method, path.to_owned())
        })
        .collect();
    for (service, method, path) in documented.keys() {
        if !covered.contains(&(*service, *method, path.clone())) {
            problems.push(format!(
                "{} {} {path} is documented but has no row in TABLE",
                service.name(),
                method.as_str()
            ));
        }
    }
    for row in TABLE {
        let (service, method, path) = row.op.endpoint();
        let name = format!(
            "{} {} {path} ({:?})",
            service.name(),
            method.as_str(),
            row.op
        );
        let no_key = row.cells[Column::NoKey as usize];
        let wrong_key = row.cells[Column::WrongKey as usize];
        match documented.get(&(service, method, path.to_owned())) {
            None => problems.push(format!("{name} is in TABLE but not documented")),
            Some(true) if no_key != Unauthorized || wrong_key != Unauthorized => problems.push(
                format!("{name} documents a bearer key, so no key and a wrong key must be 401"),
            ),
            Some(false) if no_key == Unauthorized => problems.push(format!(
                "{name} is documented as public, yet its no-key cell is 401"
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
