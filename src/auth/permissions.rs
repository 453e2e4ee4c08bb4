//! The permission catalogue and the built-in roles. A role is a set of these; custom roles may
//! hold any of them. Kept as a bit set so a check on the hot path is one AND.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Perm {
    UsersRead,
    UsersWrite,
    RolesWrite,
    AuditRead,
    PatientsRead,
    PatientsWrite,
    DoctorsWrite,
    AppointmentsRead,
    AppointmentsWrite,
    RecordsRead,
    RecordsWrite,
    ConsentRead,
    ConsentWrite,
    ConsentFormsWrite,
    NotificationsSend,
    BreakGlass,
    TelemedicineRead,
    TelemedicineWrite,
    LabRead,
    LabWrite,
    ReferralsRead,
    ReferralsWrite,
    PharmacyRead,
    PharmacyWrite,
    MedicationsWrite,
    PharmaciesWrite,
    BillingRead,
    BillingWrite,
    DevicesRead,
    DevicesWrite,
    PortalWrite,
    MetricsRead,
}

use Perm::*;

impl Perm {
    /// The wire name, e.g. `records:read`.
    pub fn name(self) -> &'static str {
        CATALOGUE[self as usize].1
    }
    pub fn from_name(name: &str) -> Option<Perm> {
        CATALOGUE
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(p, _, _)| *p)
    }
}

/// Every permission with its wire name and what it allows.
pub const CATALOGUE: &[(Perm, &str, &str)] = &[
    (UsersRead, "users:read", "List and read user accounts"),
    (
        UsersWrite,
        "users:write",
        "Create users, change roles, deactivate",
    ),
    (
        RolesWrite,
        "roles:write",
        "Create, change and delete custom roles",
    ),
    (AuditRead, "audit:read", "Read the audit trail"),
    (PatientsRead, "patients:read", "Read patient demographics"),
    (
        PatientsWrite,
        "patients:write",
        "Create and change patients",
    ),
    (DoctorsWrite, "doctors:write", "Create and change doctors"),
    (AppointmentsRead, "appointments:read", "Read appointments"),
    (
        AppointmentsWrite,
        "appointments:write",
        "Book, reschedule and cancel appointments",
    ),
    (RecordsRead, "records:read", "Read medical records"),
    (RecordsWrite, "records:write", "Write medical records"),
    (
        ConsentRead,
        "consent:read",
        "Read one's own consent history, and that of reachable patients",
    ),
    (
        ConsentWrite,
        "consent:write",
        "Give or revoke one's own consent",
    ),
    (
        ConsentFormsWrite,
        "consent_forms:write",
        "Manage consent forms",
    ),
    (
        NotificationsSend,
        "notifications:send",
        "Send system notifications",
    ),
    (
        BreakGlass,
        "break_glass",
        "Gain emergency access to a patient",
    ),
    (
        TelemedicineRead,
        "telemedicine:read",
        "Read virtual visits and chat",
    ),
    (
        TelemedicineWrite,
        "telemedicine:write",
        "Run virtual visits and chat",
    ),
    (LabRead, "lab:read", "Read lab orders, results and images"),
    (
        LabWrite,
        "lab:write",
        "Order tests, record results, upload images",
    ),
    (ReferralsRead, "referrals:read", "Read referrals"),
    (
        ReferralsWrite,
        "referrals:write",
        "Create and progress referrals",
    ),
    (
        PharmacyRead,
        "pharmacy:read",
        "Read prescriptions and pharmacy orders",
    ),
    (
        PharmacyWrite,
        "pharmacy:write",
        "Prescribe, send and fill prescriptions",
    ),
    (
        MedicationsWrite,
        "medications:write",
        "Manage the medication catalogue",
    ),
    (
        PharmaciesWrite,
        "pharmacies:write",
        "Manage pharmacies and their staff",
    ),
    (
        BillingRead,
        "billing:read",
        "Read plans, claims, payments and invoices",
    ),
    (
        BillingWrite,
        "billing:write",
        "File claims, record payments, issue invoices",
    ),
    (
        DevicesRead,
        "devices:read",
        "Read device data and monitoring events",
    ),
    (
        DevicesWrite,
        "devices:write",
        "Register devices and upload data",
    ),
    (
        PortalWrite,
        "portal:write",
        "Manage educational resources and surveys",
    ),
    (MetricsRead, "metrics:read", "Scrape the Prometheus metrics"),
];

/// A set of permissions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PermSet(u64);

impl PermSet {
    pub fn of(perms: &[Perm]) -> PermSet {
        PermSet(perms.iter().fold(0, |acc, p| acc | (1u64 << *p as u8)))
    }
    pub fn all() -> PermSet {
        PermSet::of(&CATALOGUE.iter().map(|(p, _, _)| *p).collect::<Vec<_>>())
    }
    pub fn has(self, p: Perm) -> bool {
        self.0 & (1u64 << p as u8) != 0
    }
    pub fn union(self, other: PermSet) -> PermSet {
        PermSet(self.0 | other.0)
    }
    pub fn names(self) -> Vec<String> {
        CATALOGUE
            .iter()
            .filter(|(p, _, _)| self.has(*p))
            .map(|(_, n, _)| n.to_string())
            .collect()
    }
    /// Parses wire names; returns the unknown ones as the error.
    pub fn from_names(names: &[String]) -> Result<PermSet, Vec<String>> {
        let mut set = PermSet::default();
        let mut unknown = Vec::new();
        for n in names {
            match CATALOGUE.iter().find(|(_, name, _)| name == n) {
                Some((p, _, _)) => set = set.union(PermSet::of(&[*p])),
                None => unknown.push(n.clone()),
            }
        }
        if unknown.is_empty() {
            Ok(set)
        } else {
            Err(unknown)
        }
    }
}

pub const ADMIN: &str = "admin";
pub const DOCTOR: &str = "doctor";
pub const PATIENT: &str = "patient";
pub const PHARMACIST: &str = "pharmacist";
pub const LAB_TECHNICIAN: &str = "lab_technician";
pub const BILLING: &str = "billing";
pub const AUDITOR: &str = "auditor";

/// The seven built-in roles: (name, description, permissions).
pub fn built_in_roles() -> Vec<(&'static str, &'static str, PermSet)> {
    vec![
        (ADMIN, "Runs the system: every permission", PermSet::all()),
        (
            DOCTOR,
            "Clinician: demographics of all patients, clinical data of their care team's patients",
            PermSet::of(&[
                PatientsRead,
                PatientsWrite,
                AppointmentsRead,
                AppointmentsWrite,
                RecordsRead,
                RecordsWrite,
                ConsentRead,
                ConsentWrite,
                BreakGlass,
                TelemedicineRead,
                TelemedicineWrite,
                LabRead,
                LabWrite,
                ReferralsRead,
                ReferralsWrite,
                PharmacyRead,
                PharmacyWrite,
                DevicesRead,
                DevicesWrite,
            ]),
        ),
        (
            PATIENT,
            "A person receiving care: their own record only",
            PermSet::of(&[
                PatientsRead,
                PatientsWrite,
                AppointmentsRead,
                AppointmentsWrite,
                RecordsRead,
                ConsentRead,
                ConsentWrite,
                TelemedicineRead,
                TelemedicineWrite,
                LabRead,
                ReferralsRead,
                PharmacyRead,
                PharmacyWrite,
                BillingRead,
                DevicesRead,
                DevicesWrite,
            ]),
        ),
        (
            PHARMACIST,
            "Dispenses: prescriptions and pharmacy orders",
            PermSet::of(&[
                PharmacyRead,
                PharmacyWrite,
                MedicationsWrite,
                ConsentRead,
                ConsentWrite,
            ]),
        ),
        (
            LAB_TECHNICIAN,
            "Runs the lab: orders, results and images",
            PermSet::of(&[PatientsRead, LabRead, LabWrite, ConsentRead, ConsentWrite]),
        ),
        (
            BILLING,
            "Billing staff: plans, claims, payments, invoices",
            PermSet::of(&[
                PatientsRead,
                BillingRead,
                BillingWrite,
                ConsentRead,
                ConsentWrite,
            ]),
        ),
        (
            AUDITOR,
            "Reviews the audit trail and accounts, no clinical data",
            PermSet::of(&[AuditRead, UsersRead, MetricsRead, ConsentRead, ConsentWrite]),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `Perm` variant has exactly one catalogue entry, in declaration order; a variant
    /// left out of the catalogue could never be granted.
    #[test]
    fn catalogue_lists_every_permission_in_order() {
        for (i, (p, name, _)) in CATALOGUE.iter().enumerate() {
            assert_eq!(*p as usize, i, "{name} is out of order");
        }
        assert_eq!(
            CATALOGUE.len(),
            MetricsRead as usize + 1,
            "the last variant is listed"
        );
        assert!(CATALOGUE.len() <= 64, "PermSet is a u64");
    }
}
