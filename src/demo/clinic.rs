//! The demo clinic's content: its specialties, whom each one sees, and per specialty the
//! conditions it treats — a real ICD-10-CM code with its title, the reasons patients give for
//! coming, note templates with variable parts, the medicines prescribed for it — and its chats,
//! lab panels and what a referral to it says. The other demo files draw from these tables, so a
//! psychiatrist writes about depression, not knee pain.
//!
//! A template's `{name}` is filled by [`fill`] from the visit (the patient's age, a blood
//! pressure, a number of weeks…), which is what makes thousands of notes read differently.

use chrono::NaiveDate;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;

use crate::domains::patients::Sex;

/// Who a specialty sees or a condition happens to: ages in whole years on the day of the visit
/// (`min` inclusive, `max` exclusive), and one sex or either.
#[derive(Debug, Clone, Copy)]
pub(super) struct Who {
    pub min: u32,
    pub max: u32,
    pub sex: Option<Sex>,
}

impl Who {
    pub fn fits(&self, age: u32, sex: Sex) -> bool {
        (self.min..self.max).contains(&age) && self.sex.is_none_or(|s| s == sex)
    }
}

const fn who(min: u32, max: u32) -> Who {
    Who {
        min,
        max,
        sex: None,
    }
}
const fn women(min: u32, max: u32) -> Who {
    Who {
        min,
        max,
        sex: Some(Sex::Female),
    }
}
const fn men(min: u32, max: u32) -> Who {
    Who {
        min,
        max,
        sex: Some(Sex::Male),
    }
}

const ANYONE: Who = who(0, 120);
const CHILD: Who = who(0, 18);
const ADULT: Who = who(18, 120);

/// What a visit is about: the diagnosis (or encounter) code written on its record.
#[derive(Debug)]
pub(super) struct Condition {
    /// ICD-10-CM code and its title (the record's title).
    pub code: &'static str,
    pub title: &'static str,
    /// The record type written for it.
    pub kind: &'static str,
    pub who: Who,
    /// What the patient books the appointment for.
    pub reasons: &'static [&'static str],
    /// The body of the note: one is picked and filled.
    pub notes: &'static [&'static str],
    /// RxNorm codes (of the demo's catalogue) a doctor prescribes for it; empty: none.
    pub meds: &'static [&'static str],
}

#[allow(clippy::too_many_arguments)]
const fn c(
    code: &'static str,
    title: &'static str,
    kind: &'static str,
    who: Who,
    reasons: &'static [&'static str],
    notes: &'static [&'static str],
    meds: &'static [&'static str],
) -> Condition {
    Condition {
        code,
        title,
        kind,
        who,
        reasons,
        notes,
        meds,
    }
}

/// A specialty of the clinic.
#[derive(Debug)]
pub(super) struct Specialty {
    pub name: &'static str,
    /// Whom it sees.
    pub who: Who,
    /// For a specialty that sees both sexes but mostly one: the share of men among its
    /// patients (urology); `None`: as they come.
    pub men: Option<f64>,
    /// A patient's own doctor (family medicine, internal medicine, pediatrics, geriatrics).
    pub primary: bool,
    /// Walk-in care: open every day, 08:00–20:00, booked the same day.
    pub urgent: bool,
    /// Appointment lengths in minutes, the first the most common.
    pub minutes: &'static [i64],
    pub conditions: &'static [Condition],
    /// Virtual visits: the patient's lines and the doctor's in turn (the first is the reason).
    pub chats: &'static [&'static [&'static str]],
    /// The lab panels it orders (LOINC codes of the demo's panels).
    pub panels: &'static [&'static str],
    /// Why a colleague refers a patient here, and what the specialist writes back.
    pub referrals: &'static [&'static str],
    pub replies: &'static [&'static str],
}

/// The clinic's doctors, one line each: 24 in all (the demo's default), the busy specialties
/// twice or three times. A demo with more doctors goes round again.
pub(super) const ROSTER: &[&str] = &[
    "Family Medicine",
    "Internal Medicine",
    "Pediatrics",
    "Cardiology",
    "Obstetrics and Gynecology",
    "Orthopedics",
    "Psychiatry",
    "Dermatology",
    "Urgent Care",
    "Family Medicine",
    "Geriatrics",
    "Endocrinology",
    "Neurology",
    "Pulmonology",
    "Gastroenterology",
    "Urology",
    "Family Medicine",
    "Internal Medicine",
    "Pediatrics",
    "Cardiology",
    "Obstetrics and Gynecology",
    "Orthopedics",
    "Psychiatry",
    "Urgent Care",
];

pub(super) fn specialty(name: &str) -> &'static Specialty {
    SPECIALTIES
        .iter()
        .find(|s| s.name == name)
        .expect("a specialty of the table")
}

// The lab panels (see lab.rs).
const BMP: &str = "51990-0";
const CBC: &str = "58410-2";
const A1C: &str = "4548-4";
const LIPIDS: &str = "57698-3";

// Medicines of the catalogue (see pharmacy.rs), by RxNorm code.
const AMLODIPINE: &str = "197361";
const AMLODIPINE_10: &str = "308135";
const LISINOPRIL: &str = "314076";
const LISINOPRIL_20: &str = "314077";
const METFORMIN: &str = "860975";
const METFORMIN_1000: &str = "861007";
const ATORVASTATIN: &str = "617311";
const ATORVASTATIN_40: &str = "617312";
const SIMVASTATIN: &str = "312961";
const OMEPRAZOLE: &str = "198048";
const HCTZ: &str = "310798";
const ATENOLOL: &str = "197381";
const METOPROLOL: &str = "866924";
const FUROSEMIDE: &str = "310429";
const CLOPIDOGREL: &str = "309362";
const ASPIRIN: &str = "243670";
const IBUPROFEN: &str = "310965";
const ACETAMINOPHEN: &str = "313782";
const AMOXICILLIN: &str = "308191";
const AMOXICILLIN_250: &str = "308182";
const CLARITHROMYCIN: &str = "197517";
const PREDNISONE: &str = "312615";
const FLUOXETINE: &str = "310384";
const SERTRALINE: &str = "312941";
const LEVOTHYROXINE: &str = "966247";
const ALBUTEROL: &str = "745679";
const NITROFURANTOIN: &str = "311989";
const GABAPENTIN: &str = "197696";
const SIMVASTATIN_40: &str = "198211";
const MONTELUKAST: &str = "200371";

// Conditions seen in more than one specialty.
const HYPERTENSION: Condition = c(
    "I10",
    "Essential (primary) hypertension",
    "diagnosis",
    ADULT,
    &["Blood pressure review", "High readings on my home monitor", "Follow-up: blood pressure"],
    &[
        "Office BP {bp_high}, repeat {bp_high}; home readings average {bp_high}. No chest pain, headache or visual change. Reinforced salt reduction and daily walking.",
        "Home log reviewed: mornings around {bp_high}. Taking medication daily, no side effects. BMI {bmi}. Dose adjusted; BMP ordered.",
        "BP {bp} today on current treatment, at target. Heart sounds normal, no edema. Continue the same dose.",
    ],
    &[AMLODIPINE, LISINOPRIL, HCTZ, AMLODIPINE_10, LISINOPRIL_20],
);
const DIABETES: Condition = c(
    "E11.9",
    "Type 2 diabetes mellitus without complications",
    "diagnosis",
    who(25, 120),
    &["Diabetes check", "Blood sugar follow-up", "Review of my HbA1c"],
    &[
        "HbA1c {a1c}% (previous {a1c}%). Fasting glucose at home {glucose} mg/dL. Feet: pulses present, monofilament normal. Diet and activity discussed.",
        "Newly diagnosed: HbA1c {a1c}%, BMI {bmi}. Metformin started with a slow titration; referred to diabetes education. Eye exam booked.",
        "Glucose log reviewed, fasting values {glucose}-{glucose} mg/dL. No hypoglycemia. Urine albumin requested; annual eye exam due.",
    ],
    &[METFORMIN, METFORMIN_1000],
);
const LIPIDEMIA: Condition = c(
    "E78.5",
    "Hyperlipidemia, unspecified",
    "diagnosis",
    who(30, 120),
    &["Cholesterol results", "Lipid follow-up", "Statin review"],
    &[
        "LDL {ldl} mg/dL on the last panel. 10-year cardiovascular risk discussed; statin started. Repeat lipids in {weeks} weeks.",
        "On statin, LDL down to {ldl_ok} mg/dL from {ldl} mg/dL. No muscle aches. Continue; diet counselling given.",
    ],
    &[ATORVASTATIN, SIMVASTATIN, ATORVASTATIN_40, SIMVASTATIN_40],
);
const URI: Condition = c(
    "J06.9",
    "Acute upper respiratory infection, unspecified",
    "diagnosis",
    ANYONE,
    &["Cold symptoms", "Sore throat and runny nose", "Cough and congestion"],
    &[
        "{days} days of rhinorrhea, sore throat and dry cough. T {temp} °C, SpO2 {spo2}%, chest clear. Viral; fluids, rest and paracetamol.",
        "Congestion and cough for {days} days, no dyspnea. Pharynx mildly red, no exudate; lungs clear. Supportive care, return if fever lasts.",
    ],
    &[ACETAMINOPHEN, IBUPROFEN],
);
const PHARYNGITIS: Condition = c(
    "J02.9",
    "Acute pharyngitis, unspecified",
    "diagnosis",
    ANYONE,
    &["Sore throat", "Painful swallowing"],
    &[
        "Sore throat for {days} days, T {fever} °C. Tonsils enlarged without exudate; rapid strep negative. Symptomatic treatment.",
        "Throat pain {pain}/10, no cough. Tender anterior nodes. Rapid strep negative; throat culture sent.",
    ],
    &[ACETAMINOPHEN, IBUPROFEN],
);
const UTI: Condition = c(
    "N39.0",
    "Urinary tract infection, site not specified",
    "diagnosis",
    who(16, 120),
    &["Burning when passing urine", "Urinary symptoms", "Frequent urination"],
    &[
        "Dysuria and frequency for {days} days, no fever or flank pain. Urine dipstick: leukocytes and nitrites positive. Nitrofurantoin for 5 days.",
        "Suprapubic discomfort, urgency. T {temp} °C, no CVA tenderness. Culture sent; empirical antibiotic started.",
    ],
    &[NITROFURANTOIN],
);
const LOW_BACK_PAIN: Condition = c(
    "M54.50",
    "Low back pain, unspecified",
    "diagnosis",
    who(16, 120),
    &["Back pain", "Lower back pain after lifting", "Back pain follow-up"],
    &[
        "Low back pain for {days} days after lifting, pain {pain}/10, no radiation. Straight-leg raise negative, neuro exam normal. No red flags. Keep active, NSAID, physiotherapy.",
        "Mechanical low back pain, better with movement. Paraspinal tenderness. Red flags screened and absent. Heat, home exercises, review in {weeks} weeks.",
    ],
    &[IBUPROFEN, ACETAMINOPHEN],
);
const ANNUAL: Condition = c(
    "Z00.00",
    "Encounter for general adult medical examination without abnormal findings",
    "visit_note",
    ADULT,
    &["Annual check-up", "Yearly physical", "Preventive visit"],
    &[
        "Annual examination. BP {bp}, HR {hr}, BMI {bmi}. Exam unremarkable. Screening up to date; lipids and glucose ordered.",
        "Well adult visit. No complaints. BP {bp}, HR {hr}. Counselled on diet, exercise and sleep. Vaccines reviewed.",
    ],
    &[],
);
const FLU_SHOT: Condition = c(
    "Z23",
    "Encounter for immunization",
    "immunization",
    ANYONE,
    &["Flu shot", "Vaccination", "Booster vaccine"],
    &[
        "Seasonal influenza vaccine given, {side} deltoid, lot {lot}. Observed 15 minutes, no reaction.",
        "Tdap booster given IM, {side} deltoid, lot {lot}. Vaccine information sheet provided.",
        "Pneumococcal vaccine given IM, {side} deltoid, lot {lot}. No immediate reaction.",
    ],
    &[],
);
const GERD: Condition = c(
    "K21.9",
    "Gastro-esophageal reflux disease without esophagitis",
    "diagnosis",
    who(16, 120),
    &["Heartburn", "Acid reflux", "Burning in my chest after meals"],
    &[
        "Heartburn after meals for {weeks} weeks, worse lying down. No dysphagia, weight loss or bleeding. PPI trial for 8 weeks; late meals avoided.",
        "Reflux symptoms controlled on PPI. Discussed stepping down the dose. Alarm symptoms absent.",
    ],
    &[OMEPRAZOLE],
);
const ASTHMA_CHILD: Condition = c(
    "J45.20",
    "Mild intermittent asthma, uncomplicated",
    "diagnosis",
    who(4, 18),
    &["Wheezing", "Asthma check", "Cough at night"],
    &[
        "Wheeze with exercise, night cough {nights} nights a month. Chest clear today, SpO2 {spo2}%. Spacer technique checked; reliever as needed, written asthma plan.",
        "Asthma review: reliever used {nights} times last month. Growth normal. Inhaler technique good. Flu vaccine recommended.",
    ],
    &[ALBUTEROL, MONTELUKAST],
);
const ANXIETY: Condition = c(
    "F41.1",
    "Generalized anxiety disorder",
    "diagnosis",
    who(14, 120),
    &["Anxiety", "Feeling on edge", "Worry and poor sleep"],
    &[
        "Persistent worry for months, poor sleep, muscle tension. GAD-7 {gad7}. No suicidal ideation. CBT referral; SSRI discussed and started.",
        "Anxiety follow-up: GAD-7 {gad7} (was {gad7}). Sleeping better. Continue SSRI and therapy.",
    ],
    &[SERTRALINE, FLUOXETINE],
);

const FAMILY_MEDICINE: &[Condition] = &[
    ANNUAL,
    HYPERTENSION,
    DIABETES,
    LIPIDEMIA,
    URI,
    PHARYNGITIS,
    UTI,
    LOW_BACK_PAIN,
    FLU_SHOT,
    GERD,
    ANXIETY,
    c(
        "J01.90",
        "Acute sinusitis, unspecified",
        "diagnosis",
        who(5, 120),
        &["Sinus pain", "Blocked nose and facial pain"],
        &[
            "Facial pressure and purulent discharge for {days} days, T {temp} °C. Maxillary tenderness. Saline irrigation and analgesia; antibiotic if no better in a week.",
            "Sinus symptoms for over ten days, worsening. Amoxicillin started.",
        ],
        &[AMOXICILLIN],
    ),
    c(
        "Z00.129",
        "Encounter for routine child health examination without abnormal findings",
        "visit_note",
        CHILD,
        &["Well-child visit", "School physical", "Child check-up"],
        &[
            "Well-child check. Growth along the {centile}th centile, development appropriate. Vision and hearing screens passed. Immunizations up to date.",
            "School physical: normal exam, BP {bp_child}. Sports clearance given. Discussed screen time and sleep.",
        ],
        &[],
    ),
    c(
        "E66.9",
        "Obesity, unspecified",
        "diagnosis",
        ADULT,
        &["Weight management", "Help losing weight"],
        &[
            "BMI {bmi}, waist measured. Diet history taken. Goal of 5% weight loss in {months} months; food diary and activity plan. Glucose and lipids ordered.",
            "Weight follow-up: {kg} kg lost since last visit. Motivated. Continue plan, review in {weeks} weeks.",
        ],
        &[],
    ),
    c(
        "Z88.0",
        "Allergy status to penicillin",
        "allergy",
        ANYONE,
        &["Rash after antibiotics", "Allergy review"],
        &[
            "Hives within hours of amoxicillin, {years} years ago. No anaphylaxis. Penicillin allergy recorded; avoid beta-lactams pending allergy testing.",
            "Reported rash with penicillin as a child. Recorded as allergy; cephalosporins used with caution.",
        ],
        &[],
    ),
];

const INTERNAL_MEDICINE: &[Condition] = &[
    ANNUAL,
    HYPERTENSION,
    DIABETES,
    LIPIDEMIA,
    GERD,
    c(
        "E03.9",
        "Hypothyroidism, unspecified",
        "diagnosis",
        ADULT,
        &["Thyroid follow-up", "Tiredness and weight gain", "Thyroid results"],
        &[
            "Fatigue, cold intolerance. TSH {tsh} mIU/L, free T4 low. Levothyroxine started; TSH again in 6 weeks.",
            "On levothyroxine, TSH {tsh_ok} mIU/L. Feels well. Continue the same dose, TSH yearly.",
        ],
        &[LEVOTHYROXINE],
    ),
    c(
        "D64.9",
        "Anemia, unspecified",
        "diagnosis",
        ADULT,
        &["Tiredness", "Low blood count follow-up"],
        &[
            "Fatigue for {weeks} weeks. Hb {hb} g/dL, MCV low. Iron studies and stool test ordered. Diet rich in iron discussed.",
            "Anemia follow-up: Hb up to {hb} g/dL. Continue iron, recheck CBC in {weeks} weeks.",
        ],
        &[],
    ),
    c(
        "N18.30",
        "Chronic kidney disease, stage 3 unspecified",
        "diagnosis",
        who(45, 120),
        &["Kidney function follow-up", "Kidney test results"],
        &[
            "eGFR {egfr} mL/min/1.73m², stable. BP {bp}. Avoiding NSAIDs. ACE inhibitor continued; BMP in {months} months.",
            "CKD review: eGFR {egfr}, urine albumin raised. Blood pressure and glucose targets discussed; medication doses checked.",
        ],
        &[LISINOPRIL],
    ),
    c(
        "R53.83",
        "Other fatigue",
        "visit_note",
        ADULT,
        &["Always tired", "Fatigue"],
        &[
            "Tired for {months} months, sleeping {sleep_h} hours. No weight loss or fever. Exam normal. CBC, TSH and glucose ordered; sleep habits discussed.",
            "Fatigue work-up normal so far. Mood screen negative. Gradual exercise plan; review in {weeks} weeks.",
        ],
        &[],
    ),
];

const PEDIATRICS: &[Condition] = &[
    c(
        "Z00.129",
        "Encounter for routine child health examination without abnormal findings",
        "visit_note",
        CHILD,
        &["Well-child visit", "Check-up", "School physical"],
        &[
            "Well-child check. Weight and height on the {centile}th centile, development on track. Hearing and vision normal. Safety and sleep discussed.",
            "Routine check. Growing well, eating a varied diet. Exam normal. Next vaccines due at the next visit.",
        ],
        &[],
    ),
    c(
        "Z23",
        "Encounter for immunization",
        "immunization",
        CHILD,
        &["Vaccinations", "Catch-up vaccines"],
        &[
            "Scheduled vaccines given IM, {side} thigh, lot {lot}. Parent given the information sheet; paracetamol for fever if needed.",
            "MMR and varicella given, lot {lot}. Observed 15 minutes, no reaction.",
        ],
        &[],
    ),
    c(
        "H66.90",
        "Otitis media, unspecified, unspecified ear",
        "diagnosis",
        who(0, 12),
        &["Ear pain", "Fever and pulling at ear"],
        &[
            "Ear pain and fever {fever} °C for {days} days. {Side} tympanic membrane red and bulging. Amoxicillin for 10 days, analgesia.",
            "Otalgia since yesterday, T {temp} °C. Mild redness of the {side} eardrum. Watchful waiting 48 hours with pain relief.",
        ],
        &[AMOXICILLIN_250, ACETAMINOPHEN],
    ),
    c(
        "J06.9",
        "Acute upper respiratory infection, unspecified",
        "diagnosis",
        CHILD,
        &["Cough and runny nose", "Cold"],
        &[
            "Runny nose and cough for {days} days, eating and drinking. T {temp} °C, chest clear, SpO2 {spo2}%. Viral; fluids and rest.",
            "Coryzal symptoms, playful in the room. No respiratory distress. Reassured; return if breathing fast or fever over 3 days.",
        ],
        &[ACETAMINOPHEN],
    ),
    c(
        "J02.0",
        "Streptococcal pharyngitis",
        "diagnosis",
        who(3, 18),
        &["Sore throat and fever"],
        &[
            "Sore throat, fever {fever} °C, no cough. Tonsillar exudate, tender nodes. Rapid strep positive. Amoxicillin for 10 days.",
            "Strep throat confirmed on rapid test. Antibiotic started; back to school after 24 hours of treatment.",
        ],
        &[AMOXICILLIN_250],
    ),
    ASTHMA_CHILD,
    c(
        "L20.9",
        "Atopic dermatitis, unspecified",
        "diagnosis",
        CHILD,
        &["Itchy rash", "Eczema flare"],
        &[
            "Dry itchy patches in the elbow and knee folds. Emollients twice daily and a mild steroid cream for flares. Soap substitutes.",
            "Eczema better with moisturiser; one flare in {weeks} weeks. Continue plan.",
        ],
        &[],
    ),
    c(
        "F90.0",
        "Attention-deficit hyperactivity disorder, predominantly inattentive type",
        "diagnosis",
        who(6, 18),
        &["School concerns", "Trouble concentrating"],
        &[
            "Teacher and parent questionnaires consistent with inattention across settings. Discussed behavioural strategies and school support; psychology referral.",
            "ADHD follow-up: school reports improved focus. Sleep and appetite fine. Weight {kg} kg.",
        ],
        &[],
    ),
    c(
        "A08.4",
        "Viral intestinal infection, unspecified",
        "diagnosis",
        CHILD,
        &["Vomiting and diarrhea", "Tummy bug"],
        &[
            "Vomiting and loose stools for {days} days, keeping fluids down. Mildly dry mucosa, alert. Oral rehydration; return if fewer wet diapers or blood in stool.",
            "Gastroenteritis improving. Tolerating diet. No dehydration.",
        ],
        &[],
    ),
];

const GERIATRICS: &[Condition] = &[
    HYPERTENSION,
    DIABETES,
    c(
        "Z00.00",
        "Encounter for general adult medical examination without abnormal findings",
        "visit_note",
        who(65, 120),
        &["Annual wellness visit", "Yearly check-up"],
        &[
            "Annual wellness visit. BP {bp}, weight stable. Cognitive screen normal, no falls this year. Hearing and vision reviewed; vaccines updated.",
            "Wellness visit: independent in daily activities, lives with family. Advance care planning discussed.",
        ],
        &[],
    ),
    c(
        "G30.9",
        "Alzheimer's disease, unspecified",
        "diagnosis",
        who(65, 120),
        &["Memory problems", "Memory follow-up"],
        &[
            "Progressive forgetfulness over {years} years, reported by family. MoCA {moca}/30. B12 and TSH normal. Care-giver support and safety at home discussed.",
            "Memory follow-up: MoCA {moca}/30, stable. Sleeping well. Day centre twice a week.",
        ],
        &[],
    ),
    c(
        "R26.81",
        "Unsteadiness on feet",
        "diagnosis",
        who(65, 120),
        &["Falls", "Unsteady walking"],
        &[
            "{falls} falls in the past six months, no injury. Timed up-and-go {tug} s. Orthostatic BP checked. Physiotherapy for balance; home safety review.",
            "Gait slow and wide-based. Medications reviewed to reduce sedatives. Walking frame advised.",
        ],
        &[],
    ),
    c(
        "M81.0",
        "Age-related osteoporosis without current pathological fracture",
        "diagnosis",
        who(60, 120),
        &["Bone density results", "Osteoporosis follow-up"],
        &[
            "DXA T-score {tscore} at the hip. Calcium and vitamin D, weight-bearing exercise. Bisphosphonate discussed.",
            "Osteoporosis review: no fractures, height stable. Continue treatment; DXA in two years.",
        ],
        &[],
    ),
    c(
        "Z79.899",
        "Other long term (current) drug therapy",
        "visit_note",
        who(65, 120),
        &["Medication review", "Too many pills"],
        &[
            "Medication review: {count} regular medicines. Stopped one duplicate and a sedative at night. Blister pack arranged with the pharmacy.",
            "Polypharmacy review with the patient and daughter. Simplified to once-daily dosing where possible.",
        ],
        &[],
    ),
    c(
        "I50.9",
        "Heart failure, unspecified",
        "diagnosis",
        who(60, 120),
        &["Swollen ankles", "Breathless walking"],
        &[
            "Ankle swelling and breathlessness on one flight of stairs. Weight up {kg} kg. Bibasal crackles, pitting edema. Diuretic increased; daily weights.",
            "Heart failure follow-up: weight stable, sleeping flat. BP {bp}. Continue current doses.",
        ],
        &[FUROSEMIDE, METOPROLOL],
    ),
];

const CARDIOLOGY: &[Condition] = &[
    HYPERTENSION,
    LIPIDEMIA,
    c(
        "I48.91",
        "Unspecified atrial fibrillation",
        "diagnosis",
        who(40, 120),
        &["Irregular heartbeat", "Atrial fibrillation follow-up", "Palpitations"],
        &[
            "Irregularly irregular pulse {hr_fast} bpm. ECG: atrial fibrillation. CHA2DS2-VASc {chads}. Rate control started; anticoagulation discussed.",
            "AF follow-up: rate {hr} bpm at rest, no bleeding. Echo: EF {ef}%. Continue rate control.",
        ],
        &[METOPROLOL, ATENOLOL],
    ),
    c(
        "I25.10",
        "Atherosclerotic heart disease of native coronary artery without angina pectoris",
        "diagnosis",
        who(40, 120),
        &["Heart check after stent", "Coronary disease follow-up"],
        &[
            "Stable after PCI, no angina. BP {bp}, LDL {ldl_ok} mg/dL. Continue dual antiplatelet therapy and high-intensity statin.",
            "No chest pain on {km} km walks. ECG unchanged. Cardiac rehabilitation completed.",
        ],
        &[CLOPIDOGREL, ASPIRIN, ATORVASTATIN_40],
    ),
    c(
        "R07.9",
        "Chest pain, unspecified",
        "visit_note",
        who(25, 120),
        &["Chest pain", "Chest tightness on exertion"],
        &[
            "Intermittent chest tightness for {weeks} weeks, not clearly exertional. ECG sinus rhythm {hr} bpm, no ischemic changes. Stress test booked; aspirin meanwhile.",
            "Atypical chest pain, reproducible on palpation. ECG and troponin normal. Reassured; musculoskeletal cause likely.",
        ],
        &[ASPIRIN],
    ),
    c(
        "I50.9",
        "Heart failure, unspecified",
        "diagnosis",
        who(45, 120),
        &["Heart failure follow-up", "Shortness of breath"],
        &[
            "NYHA class II. Echo EF {ef}%. Weight up {kg} kg, mild ankle edema. Diuretic adjusted; beta-blocker titrated.",
            "Stable heart failure, EF {ef}%. No orthopnea. BMP checked.",
        ],
        &[FUROSEMIDE, METOPROLOL, LISINOPRIL],
    ),
    c(
        "R00.2",
        "Palpitations",
        "visit_note",
        who(16, 120),
        &["Racing heart", "Palpitations"],
        &[
            "Episodes of fast heartbeat lasting minutes, {count} a week. ECG normal, HR {hr}. 48-hour Holter arranged; caffeine reduction.",
            "Holter: sinus rhythm with occasional ectopics. Benign; reassured.",
        ],
        &[],
    ),
];

const DERMATOLOGY: &[Condition] = &[
    c(
        "L70.0",
        "Acne vulgaris",
        "diagnosis",
        who(11, 40),
        &["Acne", "Spots on my face"],
        &[
            "Comedones and inflammatory papules on face and upper back. Topical retinoid at night and benzoyl peroxide. Review in {weeks} weeks.",
            "Acne improving, fewer inflammatory lesions. Continue topical treatment; sun protection.",
        ],
        &[],
    ),
    c(
        "L20.9",
        "Atopic dermatitis, unspecified",
        "diagnosis",
        ANYONE,
        &["Eczema", "Itchy dry skin"],
        &[
            "Lichenified patches on flexures, itch {pain}/10 at night. Emollients, topical steroid for flares, wet wraps explained.",
            "Eczema controlled with emollients; {count} flares since last visit.",
        ],
        &[],
    ),
    c(
        "L40.0",
        "Psoriasis vulgaris",
        "diagnosis",
        who(12, 120),
        &["Psoriasis", "Scaly patches on elbows"],
        &[
            "Well-demarcated scaly plaques on elbows, knees and scalp, about {bsa}% of body surface. Topical steroid and vitamin D analogue.",
            "Psoriasis follow-up: plaques thinner. Joint symptoms screened: none.",
        ],
        &[],
    ),
    c(
        "D22.5",
        "Melanocytic nevi of trunk",
        "procedure",
        who(12, 120),
        &["Mole check", "Changing mole on my back"],
        &[
            "Mole on the back, {mm} mm, symmetric on dermoscopy. Shave excision under local anesthesia; sent to pathology.",
            "Full skin check. {count} moles on the trunk, all benign on dermoscopy. Photographs taken for comparison.",
        ],
        &[],
    ),
    c(
        "L57.0",
        "Actinic keratosis",
        "procedure",
        who(40, 120),
        &["Rough spots on my scalp", "Sun damage check"],
        &[
            "{count} rough scaly lesions on scalp and forehead. Cryotherapy to each. Daily sunscreen.",
            "Actinic keratoses on the backs of the hands. Field treatment cream prescribed; review in {months} months.",
        ],
        &[],
    ),
    c(
        "L25.9",
        "Unspecified contact dermatitis, unspecified cause",
        "diagnosis",
        ANYONE,
        &["Rash on my hands", "Skin reaction"],
        &[
            "Itchy vesicular rash on the hands for {days} days after a new cleaning product. Avoidance, emollients and a topical steroid.",
            "Contact dermatitis settling. Patch testing offered.",
        ],
        &[],
    ),
    c(
        "L71.9",
        "Rosacea, unspecified",
        "diagnosis",
        who(25, 120),
        &["Red face", "Flushing"],
        &[
            "Central facial erythema and papules, worse with alcohol and heat. Topical treatment and trigger avoidance.",
            "Rosacea improved. Continue; sunscreen daily.",
        ],
        &[],
    ),
];

const ENDOCRINOLOGY: &[Condition] = &[
    DIABETES,
    c(
        "E11.65",
        "Type 2 diabetes mellitus with hyperglycemia",
        "diagnosis",
        who(25, 120),
        &["High blood sugars", "Diabetes not controlled"],
        &[
            "HbA1c {a1c_high}% despite metformin. Glucose log up to {glucose} mg/dL. Second agent discussed; dietitian referral.",
            "Persistent hyperglycemia, HbA1c {a1c_high}%. Adherence good. Treatment intensified; review in 3 months with HbA1c.",
        ],
        &[METFORMIN_1000],
    ),
    c(
        "E10.9",
        "Type 1 diabetes mellitus without complications",
        "diagnosis",
        who(8, 60),
        &["Insulin adjustment", "Type 1 diabetes review"],
        &[
            "Sensor data: time in range {tir}%. Two mild lows a week before lunch; breakfast insulin ratio reduced.",
            "HbA1c {a1c}%. Injection sites healthy. Sick-day rules reviewed.",
        ],
        &[],
    ),
    c(
        "E03.9",
        "Hypothyroidism, unspecified",
        "diagnosis",
        who(12, 120),
        &["Thyroid follow-up", "Thyroid dose review"],
        &[
            "TSH {tsh} mIU/L on current dose. Levothyroxine increased by 25 mcg; TSH in 6 weeks.",
            "Euthyroid on treatment, TSH {tsh_ok} mIU/L. Continue.",
        ],
        &[LEVOTHYROXINE],
    ),
    c(
        "E05.90",
        "Thyrotoxicosis, unspecified without thyrotoxic crisis or storm",
        "diagnosis",
        who(16, 120),
        &["Overactive thyroid", "Weight loss and tremor"],
        &[
            "Weight loss {kg} kg, tremor, heat intolerance. HR {hr_fast}. TSH suppressed. Antibodies and uptake scan ordered; beta-blocker for symptoms.",
            "Hyperthyroidism follow-up: symptoms better, HR {hr}. Thyroid function in 4 weeks.",
        ],
        &[ATENOLOL],
    ),
    c(
        "E04.1",
        "Nontoxic single thyroid nodule",
        "diagnosis",
        who(18, 120),
        &["Thyroid nodule", "Lump in my neck"],
        &[
            "{nodule} cm nodule on ultrasound, TSH normal. Fine-needle aspiration arranged.",
            "Nodule stable at {nodule} cm on repeat ultrasound. Benign cytology. Ultrasound again in a year.",
        ],
        &[],
    ),
    c(
        "E55.9",
        "Vitamin D deficiency, unspecified",
        "diagnosis",
        ADULT,
        &["Low vitamin D"],
        &[
            "25-OH vitamin D {vitd} ng/mL. Replacement for 8 weeks, then maintenance.",
            "Vitamin D repleted. Maintenance dose; sunlight and diet advice.",
        ],
        &[],
    ),
];

const PSYCHIATRY: &[Condition] = &[
    ANXIETY,
    c(
        "F32.1",
        "Major depressive disorder, single episode, moderate",
        "diagnosis",
        who(16, 120),
        &["Low mood", "Depression assessment", "Feeling down for months"],
        &[
            "Low mood and anhedonia for {months} months, early waking, poor concentration. PHQ-9 {phq9}. No suicidal intent; safety plan made. SSRI started, therapy referral.",
            "Follow-up: PHQ-9 {phq9} (was {phq9}). Mood lifting, sleeping {sleep_h} hours. Mild nausea settled. Continue.",
        ],
        &[SERTRALINE, FLUOXETINE],
    ),
    c(
        "F33.1",
        "Major depressive disorder, recurrent, moderate",
        "diagnosis",
        who(18, 120),
        &["Depression follow-up", "Medication review"],
        &[
            "Third episode over {years} years. PHQ-9 {phq9}. Antidepressant dose increased; weekly therapy.",
            "Stable on maintenance treatment, PHQ-9 {phq9}. Relapse signs reviewed with the patient.",
        ],
        &[SERTRALINE, FLUOXETINE],
    ),
    c(
        "F41.0",
        "Panic disorder [episodic paroxysmal anxiety]",
        "diagnosis",
        who(16, 120),
        &["Panic attacks"],
        &[
            "{count} panic attacks a week with palpitations and fear of dying; avoiding buses. CBT with exposure, SSRI started.",
            "Panic attacks down to {count} a month. Using breathing techniques. Continue.",
        ],
        &[SERTRALINE],
    ),
    c(
        "F43.10",
        "Post-traumatic stress disorder, unspecified",
        "diagnosis",
        who(16, 120),
        &["Nightmares and flashbacks", "Trauma follow-up"],
        &[
            "Intrusive memories and nightmares since an accident {months} months ago; hypervigilant. Trauma-focused therapy referral.",
            "Fewer nightmares, sleeping {sleep_h} hours. Attending therapy weekly.",
        ],
        &[SERTRALINE],
    ),
    c(
        "F51.01",
        "Primary insomnia",
        "diagnosis",
        who(16, 120),
        &["Cannot sleep", "Insomnia"],
        &[
            "Sleep onset over an hour, {sleep_h} hours a night for {months} months. Sleep diary reviewed; CBT for insomnia, stimulus control.",
            "Sleep efficiency improved on the diary. Continue sleep restriction schedule.",
        ],
        &[],
    ),
    c(
        "F31.9",
        "Bipolar disorder, unspecified",
        "diagnosis",
        who(18, 120),
        &["Mood stabiliser review", "Bipolar follow-up"],
        &[
            "Euthymic. No episodes since last review. Mood stabiliser levels and kidney function checked. Sleep routine kept.",
            "Early signs of hypomania last month, settled. Relapse plan updated with the family.",
        ],
        &[],
    ),
];

const NEUROLOGY: &[Condition] = &[
    c(
        "G43.909",
        "Migraine, unspecified, not intractable, without status migrainosus",
        "diagnosis",
        who(10, 120),
        &["Headaches", "Migraine follow-up"],
        &[
            "{count} migraine days a month, with nausea and light sensitivity. Neuro exam normal. Triptan for attacks; headache diary; prophylaxis discussed.",
            "Migraine frequency down to {count} days a month on prophylaxis. Continue.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "G43.109",
        "Migraine with aura, not intractable, without status migrainosus",
        "diagnosis",
        who(12, 120),
        &["Visual aura before headaches"],
        &[
            "Zig-zag visual aura for 20 minutes, then headache. Normal exam. Combined estrogen contraception advised against where relevant.",
            "Aura migraines {count} a month. Acute treatment effective.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "G44.209",
        "Tension-type headache, unspecified, not intractable",
        "diagnosis",
        who(12, 120),
        &["Daily headaches", "Pressure headache"],
        &[
            "Band-like headache most days, no red flags, exam normal. Analgesic use {count} days a month; overuse explained. Relaxation and posture advice.",
            "Headaches less frequent after cutting screen time and painkillers.",
        ],
        &[],
    ),
    c(
        "G40.909",
        "Epilepsy, unspecified, not intractable, without status epilepticus",
        "diagnosis",
        who(5, 120),
        &["Seizure follow-up", "Epilepsy review"],
        &[
            "Seizure-free for {months} months on current treatment. Driving rules and sleep hygiene discussed.",
            "One breakthrough seizure after missed doses. Pill organiser and reminders set up.",
        ],
        &[],
    ),
    c(
        "G20.A1",
        "Parkinson's disease without dyskinesia, without mention of fluctuations",
        "diagnosis",
        who(50, 120),
        &["Tremor", "Parkinson's follow-up"],
        &[
            "Resting tremor of the {side} hand, bradykinesia, reduced arm swing. Clinical diagnosis of Parkinson's disease discussed; physiotherapy.",
            "Parkinson's review: gait steady, tremor mild. Medication timing with meals adjusted.",
        ],
        &[],
    ),
    c(
        "G56.00",
        "Carpal tunnel syndrome, unspecified upper limb",
        "diagnosis",
        who(18, 120),
        &["Numb fingers at night", "Tingling in my hand"],
        &[
            "Night-time tingling in the thumb and first fingers for {months} months. Tinel and Phalen positive. Wrist splint; nerve conduction studies.",
            "Nerve conduction: moderate median neuropathy at the wrist. Splint helping; surgery discussed.",
        ],
        &[],
    ),
    c(
        "R42",
        "Dizziness and giddiness",
        "visit_note",
        who(18, 120),
        &["Dizziness", "Room spinning"],
        &[
            "Brief spinning on turning in bed for {days} days. Dix-Hallpike positive. Repositioning maneuver done; exercises taught.",
            "Light-headedness on standing. Orthostatic BP drop. Fluids and slow rising advised; medicines reviewed.",
        ],
        &[],
    ),
    c(
        "G62.9",
        "Polyneuropathy, unspecified",
        "diagnosis",
        who(40, 120),
        &["Burning feet", "Numbness in both feet"],
        &[
            "Burning and numbness in both feet, stocking distribution. Ankle reflexes absent. Glucose, B12 and TSH ordered. Foot care advice.",
            "Neuropathic pain {pain}/10 at night. Gabapentin started at night.",
        ],
        &[GABAPENTIN],
    ),
];

const ORTHOPEDICS: &[Condition] = &[
    LOW_BACK_PAIN,
    c(
        "M17.9",
        "Osteoarthritis of knee, unspecified",
        "diagnosis",
        who(40, 120),
        &["Knee pain", "Stiff knees", "Knee osteoarthritis follow-up"],
        &[
            "{Side} knee pain on stairs for {years} years, stiffness after rest. Crepitus, no effusion. X-ray: joint space narrowing. Quadriceps strengthening, weight loss, topical NSAID.",
            "Knee OA: pain {pain}/10. Corticosteroid injection given to the {side} knee.",
        ],
        &[IBUPROFEN, ACETAMINOPHEN],
    ),
    c(
        "M25.561",
        "Pain in right knee",
        "visit_note",
        who(12, 60),
        &["Knee pain after running", "Sports injury"],
        &[
            "Right knee pain after running {km} km, no locking or giving way. Tender medial joint line, stable ligaments. Rest, ice, physiotherapy; MRI if no better.",
            "Right knee improving with physiotherapy; back to light jogging.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "M75.40",
        "Impingement syndrome of unspecified shoulder",
        "diagnosis",
        who(25, 120),
        &["Shoulder pain", "Cannot lift my arm"],
        &[
            "Pain lifting the {side} arm overhead for {weeks} weeks. Painful arc, positive Hawkins test. Physiotherapy and NSAID.",
            "Shoulder better with exercises; subacromial injection offered if it plateaus.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "S93.409A",
        "Sprain of unspecified ligament of unspecified ankle, initial encounter",
        "diagnosis",
        who(8, 70),
        &["Twisted ankle", "Ankle injury"],
        &[
            "Inversion injury of the {side} ankle {days} days ago. Swelling over the lateral ligament, able to bear weight; Ottawa rules negative. Brace, ice, elevation.",
            "Ankle sprain: bruising settling. Balance exercises.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "M77.10",
        "Lateral epicondylitis, unspecified elbow",
        "diagnosis",
        who(25, 70),
        &["Elbow pain", "Tennis elbow"],
        &[
            "Lateral elbow pain gripping for {weeks} weeks. Tender lateral epicondyle. Activity modification, eccentric exercises, forearm strap.",
            "Tennis elbow improving slowly; continue exercises.",
        ],
        &[],
    ),
    c(
        "M72.2",
        "Plantar fascial fibromatosis",
        "diagnosis",
        who(25, 120),
        &["Heel pain", "Pain in my heel in the morning"],
        &[
            "Heel pain with the first steps each morning for {months} months. Tender plantar fascia insertion. Stretching, supportive shoes, heel cups.",
            "Plantar fasciitis better with stretching; night splint added.",
        ],
        &[],
    ),
];

const OBGYN: &[Condition] = &[
    c(
        "Z01.419",
        "Encounter for gynecological examination (general) (routine) without abnormal findings",
        "visit_note",
        women(21, 120),
        &["Annual gynecological exam", "Well-woman visit"],
        &[
            "Routine gynecological exam, normal. Cervical screening taken. Contraception and breast awareness discussed.",
            "Well-woman visit. Cycle regular, no complaints. Screening up to date.",
        ],
        &[],
    ),
    c(
        "Z34.80",
        "Encounter for supervision of other normal pregnancy, unspecified trimester",
        "visit_note",
        women(18, 45),
        &["Prenatal visit", "Pregnancy check-up"],
        &[
            "Prenatal visit at {ga} weeks. BP {bp}, fundal height appropriate, fetal heart {fhr} bpm. Folic acid continued; next visit in 4 weeks.",
            "{ga} weeks, feeling well, fetal movements felt. Urine clear. Glucose screen booked.",
        ],
        &[],
    ),
    c(
        "Z34.00",
        "Encounter for supervision of normal first pregnancy, unspecified trimester",
        "visit_note",
        women(18, 42),
        &["First prenatal visit", "Pregnancy confirmation"],
        &[
            "First pregnancy, {ga} weeks by dates. Booking bloods and dating ultrasound arranged. Folic acid, diet and alcohol advice.",
            "First pregnancy at {ga} weeks, nausea easing. Fetal heart {fhr} bpm on Doppler.",
        ],
        &[],
    ),
    c(
        "N95.1",
        "Menopausal and female climacteric states",
        "diagnosis",
        women(44, 65),
        &["Hot flushes", "Menopause symptoms"],
        &[
            "Hot flushes {count} a day and night sweats, periods stopped {months} months ago. Options including hormone therapy discussed.",
            "Menopause follow-up: flushes much reduced. Bone health and breast screening reviewed.",
        ],
        &[],
    ),
    c(
        "N94.6",
        "Dysmenorrhea, unspecified",
        "diagnosis",
        women(13, 45),
        &["Painful periods"],
        &[
            "Cramping pain {pain}/10 on the first two days of each period. Pelvic exam normal. NSAIDs from the day before; hormonal options discussed.",
            "Period pain better with NSAIDs started early.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "N92.0",
        "Excessive and frequent menstruation with regular cycle",
        "diagnosis",
        women(13, 52),
        &["Heavy periods"],
        &[
            "Heavy periods for {months} months, flooding on day two. Hb {hb} g/dL. Pelvic ultrasound booked; iron started.",
            "Heavy bleeding improved; Hb {hb} g/dL.",
        ],
        &[],
    ),
    c(
        "E28.2",
        "Polycystic ovarian syndrome",
        "diagnosis",
        women(15, 45),
        &["Irregular periods", "PCOS follow-up"],
        &[
            "Cycles every {cycle} days, acne and hair growth. Ultrasound: polycystic ovaries. Lifestyle advice, cycle control discussed.",
            "PCOS follow-up: cycles more regular. Glucose and lipids checked.",
        ],
        &[METFORMIN],
    ),
    c(
        "Z30.011",
        "Encounter for initial prescription of contraceptive pills",
        "visit_note",
        women(15, 50),
        &["Contraception advice", "Starting the pill"],
        &[
            "Contraception counselling. BP {bp}, non-smoker, no migraine with aura. Combined pill started; missed-pill rules explained.",
            "Contraception options reviewed; chose the pill. Follow-up in 3 months for BP.",
        ],
        &[],
    ),
    c(
        "N76.0",
        "Acute vaginitis",
        "diagnosis",
        women(15, 120),
        &["Vaginal discharge", "Itching"],
        &[
            "Discharge and itching for {days} days. Swab taken. Treatment started; advice on irritants.",
            "Symptoms resolved after treatment.",
        ],
        &[],
    ),
];

const PULMONOLOGY: &[Condition] = &[
    c(
        "J45.40",
        "Moderate persistent asthma, uncomplicated",
        "diagnosis",
        who(12, 120),
        &["Asthma review", "Wheezing at night"],
        &[
            "Symptoms {nights} nights a month. FEV1 {fev1}% predicted, reversible. Preventer stepped up; inhaler technique checked; asthma plan updated.",
            "Asthma controlled: reliever once a week. Peak flow stable.",
        ],
        &[ALBUTEROL, MONTELUKAST],
    ),
    c(
        "J44.9",
        "Chronic obstructive pulmonary disease, unspecified",
        "diagnosis",
        who(40, 120),
        &["Breathlessness", "COPD follow-up"],
        &[
            "Ex-smoker, {packs} pack-years. FEV1 {fev1}% predicted. Breathless on one flight of stairs. Inhalers reviewed; pulmonary rehabilitation referral.",
            "COPD stable, no exacerbations since last visit. SpO2 {spo2}%. Vaccines up to date.",
        ],
        &[ALBUTEROL],
    ),
    c(
        "J44.1",
        "Chronic obstructive pulmonary disease with (acute) exacerbation",
        "diagnosis",
        who(40, 120),
        &["COPD flare-up", "More breathless than usual"],
        &[
            "Increased breathlessness and green sputum for {days} days. SpO2 {spo2_low}%, wheeze bilaterally. Prednisone 5 days and antibiotic; review in 48 hours.",
            "Exacerbation settling; back to baseline. Rescue pack given.",
        ],
        &[PREDNISONE, CLARITHROMYCIN, ALBUTEROL],
    ),
    c(
        "G47.33",
        "Obstructive sleep apnea (adult) (pediatric)",
        "diagnosis",
        who(18, 120),
        &["Snoring and daytime sleepiness", "Sleep study results"],
        &[
            "Loud snoring, witnessed apneas, Epworth {epworth}. BMI {bmi}. Home sleep study arranged.",
            "Sleep study: AHI {ahi} events/hour. CPAP started; mask fitted.",
        ],
        &[],
    ),
    c(
        "R05.9",
        "Cough, unspecified",
        "visit_note",
        who(12, 120),
        &["Cough that won't go away", "Chronic cough"],
        &[
            "Dry cough for {weeks} weeks, non-smoker. Chest X-ray clear, spirometry normal. Reflux and postnasal drip considered; trial treatment.",
            "Cough improving. No further tests needed.",
        ],
        &[],
    ),
    c(
        "R91.1",
        "Solitary pulmonary nodule",
        "diagnosis",
        who(35, 120),
        &["Lung nodule on CT", "Nodule follow-up"],
        &[
            "{mm} mm solid nodule in the {side} upper lobe found on CT. Smoking history taken. Follow-up CT in {months} months per guidelines.",
            "Repeat CT: nodule unchanged at {mm} mm. Further scan in a year.",
        ],
        &[],
    ),
    c(
        "J18.9",
        "Pneumonia, unspecified organism",
        "diagnosis",
        who(18, 120),
        &["Pneumonia follow-up"],
        &[
            "Follow-up after pneumonia treated {weeks} weeks ago. Cough resolving, SpO2 {spo2}%. Repeat chest X-ray in 6 weeks.",
            "Fever {fever} °C, productive cough, crackles at the {side} base. Chest X-ray: consolidation. Oral antibiotics; review in 48 hours.",
        ],
        &[AMOXICILLIN, CLARITHROMYCIN],
    ),
];

const GASTROENTEROLOGY: &[Condition] = &[
    GERD,
    c(
        "K58.9",
        "Irritable bowel syndrome without diarrhea",
        "diagnosis",
        who(16, 120),
        &["Bloating and cramps", "IBS follow-up"],
        &[
            "Cramping and bloating relieved by defecation, {months} months. No weight loss or bleeding; celiac serology negative. Low-FODMAP diet with dietitian.",
            "IBS better on the diet; symptoms {count} days a week.",
        ],
        &[],
    ),
    c(
        "K50.90",
        "Crohn's disease, unspecified, without complications",
        "diagnosis",
        who(14, 120),
        &["Crohn's follow-up", "Abdominal pain and diarrhea"],
        &[
            "In remission, {count} soft stools a day. Fecal calprotectin normal. Continue maintenance therapy; bone health reviewed.",
            "Flare: abdominal pain and diarrhea {count} times a day. CRP raised. Steroid course; colonoscopy planned.",
        ],
        &[PREDNISONE],
    ),
    c(
        "K51.90",
        "Ulcerative colitis, unspecified, without complications",
        "diagnosis",
        who(14, 120),
        &["Colitis follow-up", "Blood in stool"],
        &[
            "Ulcerative colitis in remission on mesalazine. No bleeding. Surveillance colonoscopy due in {years} years.",
            "Mild flare with blood-streaked stools {count} times a day. Topical therapy added.",
        ],
        &[],
    ),
    c(
        "K76.0",
        "Fatty (change of) liver, not elsewhere classified",
        "diagnosis",
        who(25, 120),
        &["Abnormal liver tests", "Fatty liver"],
        &[
            "Raised ALT, ultrasound shows fatty liver. BMI {bmi}. Alcohol {units} units a week. Weight loss of 7-10% advised; fibrosis score calculated.",
            "Fatty liver follow-up: {kg} kg lost, ALT improving.",
        ],
        &[],
    ),
    c(
        "Z12.11",
        "Encounter for screening for malignant neoplasm of colon",
        "procedure",
        who(45, 76),
        &["Screening colonoscopy", "Colonoscopy"],
        &[
            "Screening colonoscopy to the cecum, good preparation. {polyps} small polyp(s) removed and sent to pathology. Repeat in {years} years.",
            "Screening colonoscopy: normal. Next screening in 10 years.",
        ],
        &[],
    ),
    c(
        "K59.00",
        "Constipation, unspecified",
        "diagnosis",
        ANYONE,
        &["Constipation"],
        &[
            "Hard stools every {days} days, straining. No alarm features. Fibre, fluids and an osmotic laxative.",
            "Constipation better; bowels open daily.",
        ],
        &[],
    ),
    c(
        "K57.30",
        "Diverticulosis of large intestine without perforation or abscess without bleeding",
        "diagnosis",
        who(40, 120),
        &["Colonoscopy results", "Left-sided abdominal discomfort"],
        &[
            "Sigmoid diverticulosis on colonoscopy. High-fibre diet advised; warning signs of diverticulitis explained.",
            "Occasional left-sided discomfort, no fever. Diverticulosis; fibre increased.",
        ],
        &[],
    ),
];

const UROLOGY: &[Condition] = &[
    c(
        "N40.1",
        "Benign prostatic hyperplasia with lower urinary tract symptoms",
        "diagnosis",
        men(45, 120),
        &["Weak urine stream", "Getting up at night to pass urine"],
        &[
            "Nocturia {nights} times a night, weak stream. IPSS {ipss}. Prostate smooth and enlarged on exam. PSA {psa_ok} ng/mL. Alpha-blocker started.",
            "BPH follow-up: IPSS down to {ipss}. Nocturia once a night. Continue.",
        ],
        &[],
    ),
    c(
        "R97.20",
        "Elevated prostate specific antigen [PSA]",
        "diagnosis",
        men(45, 120),
        &["Raised PSA", "PSA follow-up"],
        &[
            "PSA {psa} ng/mL, up from {psa_ok}. Prostate firm on exam. MRI of the prostate arranged; biopsy discussed.",
            "Repeat PSA {psa} ng/mL. MRI: no suspicious lesion. PSA again in 6 months.",
        ],
        &[],
    ),
    c(
        "N52.9",
        "Male erectile dysfunction, unspecified",
        "diagnosis",
        men(30, 120),
        &["Erectile problems"],
        &[
            "Erectile difficulty for {months} months. Cardiovascular risk reviewed: BP {bp}. Glucose and lipids ordered. Treatment options discussed.",
            "Good response to treatment. No side effects.",
        ],
        &[],
    ),
    c(
        "N20.0",
        "Calculus of kidney",
        "diagnosis",
        who(18, 120),
        &["Kidney stone", "Flank pain"],
        &[
            "{Side} flank pain radiating to the groin. CT: {stone} mm stone in the {side} kidney. Analgesia, fluids; stone analysis when passed.",
            "Stone passed. Metabolic screen and 2.5 litres of fluid a day advised.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "R31.9",
        "Hematuria, unspecified",
        "procedure",
        who(35, 120),
        &["Blood in urine"],
        &[
            "Painless visible hematuria once. Flexible cystoscopy under local: bladder normal. CT urogram ordered.",
            "Microscopic hematuria on two tests. Cystoscopy normal; follow-up urinalysis in 6 months.",
        ],
        &[],
    ),
    c(
        "N32.81",
        "Overactive bladder",
        "diagnosis",
        who(30, 120),
        &["Urgency", "Leaking urine"],
        &[
            "Urgency and frequency {count} times a day, nocturia. Bladder diary reviewed. Bladder training and pelvic floor exercises.",
            "Overactive bladder: fewer urgent trips. Continue training.",
        ],
        &[],
    ),
    UTI,
];

const URGENT_CARE: &[Condition] = &[
    URI,
    PHARYNGITIS,
    UTI,
    c(
        "S93.409A",
        "Sprain of unspecified ligament of unspecified ankle, initial encounter",
        "diagnosis",
        who(6, 90),
        &["Twisted ankle", "Ankle injury"],
        &[
            "Rolled the {side} ankle {hours} hours ago. Lateral swelling, weight-bearing with pain; Ottawa rules negative, no X-ray. RICE, brace, ibuprofen.",
            "{Side} ankle sprain, tender ATFL. X-ray: no fracture. Brace and crutches for a few days.",
        ],
        &[IBUPROFEN],
    ),
    c(
        "S61.419A",
        "Laceration without foreign body of unspecified hand, initial encounter",
        "procedure",
        who(4, 100),
        &["Cut on my hand", "Kitchen knife cut"],
        &[
            "{cm} cm laceration of the {side} palm from a kitchen knife. Tendons and sensation intact. Irrigated, {stitches} sutures. Tetanus up to date. Removal in 10 days.",
            "Superficial {cm} cm cut on the {side} hand. Cleaned and closed with adhesive strips.",
        ],
        &[],
    ),
    c(
        "H10.9",
        "Unspecified conjunctivitis",
        "diagnosis",
        ANYONE,
        &["Red eye", "Sticky eyes"],
        &[
            "Red, sticky {side} eye for {days} days, vision normal. Likely viral; hygiene advice and cool compresses.",
            "Bilateral conjunctivitis with discharge. Antibiotic drops; no contact lenses until clear.",
        ],
        &[],
    ),
    c(
        "A08.4",
        "Viral intestinal infection, unspecified",
        "diagnosis",
        ANYONE,
        &["Vomiting and diarrhea", "Stomach bug"],
        &[
            "Vomiting and diarrhea since yesterday, several contacts unwell. HR {hr}, mild dehydration. Oral rehydration; return if unable to keep fluids down.",
            "Gastroenteritis for {days} days, improving. Tolerating fluids.",
        ],
        &[],
    ),
    c(
        "R51.9",
        "Headache, unspecified",
        "visit_note",
        who(8, 100),
        &["Headache"],
        &[
            "Headache for {days} days, no red flags, neuro exam normal, BP {bp}. Analgesia and fluids; return if worse or with fever and neck stiffness.",
            "Headache with cold symptoms. Normal exam. Symptomatic treatment.",
        ],
        &[ACETAMINOPHEN, IBUPROFEN],
    ),
    c(
        "T78.40XA",
        "Allergy, unspecified, initial encounter",
        "diagnosis",
        ANYONE,
        &["Hives", "Allergic reaction"],
        &[
            "Urticarial rash for {hours} hours after a new food. No lip swelling or wheeze. Antihistamine; food diary; epinephrine plan discussed.",
            "Itchy wheals on trunk and arms. Airway fine. Antihistamine and observation.",
        ],
        &[PREDNISONE],
    ),
    c(
        "L03.90",
        "Cellulitis, unspecified",
        "diagnosis",
        who(5, 120),
        &["Red swollen skin", "Infected scratch"],
        &[
            "Warm red swelling of the {side} lower leg, {cm} cm across, edge marked. T {temp} °C. Oral antibiotic; review in 48 hours.",
            "Cellulitis around a scratch on the {side} forearm. Antibiotic started; elevate.",
        ],
        &[AMOXICILLIN],
    ),
];

pub(super) const SPECIALTIES: &[Specialty] = &[
    Specialty {
        name: "Family Medicine",
        who: ANYONE,
        men: None,
        primary: true,
        urgent: false,
        minutes: &[20, 15, 30],
        conditions: FAMILY_MEDICINE,
        chats: &[
            &[
                "Follow-up on my blood pressure readings",
                "Thanks for sending them. Your mornings average {bp} now, better than last month.",
                "I have been taking the tablet every morning as you said.",
                "Good. Keep the same dose; we will check again in {weeks} weeks.",
            ],
            &[
                "Cough for {days} days",
                "Any fever or shortness of breath?",
                "A temperature of {temp} yesterday, no trouble breathing.",
                "Sounds viral. Rest and fluids; if it lasts another week, come in to be examined.",
            ],
            &[
                "Question about my lab results",
                "Your cholesterol is a little high, LDL {ldl_mild}; everything else is normal.",
                "Should I change anything?",
                "More fibre and a walk every day; we will repeat the test in {months} months.",
            ],
        ],
        panels: &[LIPIDS, BMP, CBC, A1C],
        referrals: &[],
        replies: &[],
    },
    Specialty {
        name: "Internal Medicine",
        who: ADULT,
        men: None,
        primary: true,
        urgent: false,
        minutes: &[30, 20, 40],
        conditions: INTERNAL_MEDICINE,
        chats: &[
            &[
                "Sugar readings this week",
                "I see fasting values around {glucose}. How is the metformin going?",
                "A bit of stomach upset the first days, fine now.",
                "Good. Keep taking it with meals; HbA1c again before our next visit.",
            ],
            &[
                "Still feeling tired",
                "Your blood count and thyroid came back normal. How many hours are you sleeping?",
                "About {sleep_h}, and I wake up often.",
                "Let's work on sleep first; I'll send you a sleep diary to fill in for two weeks.",
            ],
        ],
        panels: &[BMP, CBC, LIPIDS, A1C],
        referrals: &[],
        replies: &[],
    },
    Specialty {
        name: "Pediatrics",
        who: CHILD,
        men: None,
        primary: true,
        urgent: false,
        minutes: &[20, 15, 30],
        conditions: PEDIATRICS,
        chats: &[
            &[
                "My son has had a fever since yesterday",
                "How high, and is he drinking?",
                "{fever} this morning; he drinks but eats little.",
                "Give paracetamol by weight and plenty of fluids. Call back if he gets drowsy or a rash appears.",
            ],
            &[
                "Asthma inhaler question",
                "How often is she using the blue inhaler?",
                "About {nights} times in the last month, mostly at night.",
                "Then we should step up the preventer. I'll update the plan and send it to the pharmacy.",
            ],
        ],
        panels: &[CBC],
        referrals: &[
            "Recurrent wheeze in a child, please assess",
            "Eczema not controlled with first-line treatment",
        ],
        replies: &[
            "Seen with a parent. Treatment plan updated and a written action plan given.",
            "Child reviewed; growth normal. Management agreed with the family.",
        ],
    },
    Specialty {
        name: "Geriatrics",
        who: who(65, 120),
        men: None,
        primary: true,
        urgent: false,
        minutes: &[40, 30, 60],
        conditions: GERIATRICS,
        chats: &[
            &[
                "Check-in about my mother's memory",
                "How has she been since the last visit?",
                "Mostly fine, but she got lost once walking home.",
                "Thank you for telling me. Let's bring the next visit forward and talk about support at home.",
            ],
            &[
                "Dizzy when I stand up",
                "Did it start after the new tablet?",
                "Yes, about {days} days after.",
                "Stop the evening dose for now and stand up slowly; I'll call you in a week.",
            ],
        ],
        panels: &[BMP, CBC],
        referrals: &[
            "Falls and memory decline, please review",
            "Frailty and polypharmacy review",
        ],
        replies: &[
            "Comprehensive geriatric assessment done. Two medicines stopped; physiotherapy for balance.",
            "Cognitive screen and falls review completed. Care plan shared with the family.",
        ],
    },
    Specialty {
        name: "Cardiology",
        who: who(18, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[30, 20, 45],
        conditions: CARDIOLOGY,
        chats: &[
            &[
                "Palpitations again last night",
                "How long did they last, and did you feel faint?",
                "About {minutes_n} minutes, no fainting.",
                "Keep a log with times. I'll arrange a heart monitor for a week.",
            ],
            &[
                "Weight up this week",
                "How much, and are your ankles swollen?",
                "{kg} kg in three days, a little swelling.",
                "Take an extra water tablet for two days and send me your weights.",
            ],
        ],
        panels: &[LIPIDS, BMP],
        referrals: &[
            "Chest pain on exertion; please assess for coronary disease",
            "New atrial fibrillation on ECG",
            "Heart murmur and breathlessness",
            "Hypertension not controlled on three drugs",
        ],
        replies: &[
            "Stress test scheduled; aspirin 81 mg daily meanwhile.",
            "ECG and echo reviewed. Rate control started and anticoagulation discussed.",
            "Echo shows mild valve disease; no intervention now, repeat in a year.",
            "Ambulatory BP confirms hypertension. Treatment adjusted; secondary causes screened.",
        ],
    },
    Specialty {
        name: "Dermatology",
        who: ANYONE,
        men: None,
        primary: false,
        urgent: false,
        minutes: &[15, 20, 30],
        conditions: DERMATOLOGY,
        chats: &[
            &[
                "Rash on my forearm for {days} days",
                "Can you hold it up to the camera? Does it itch or burn?",
                "It itches, mostly at night.",
                "It looks like contact dermatitis. I will send a cream to your pharmacy.",
            ],
            &[
                "Acne cream follow-up",
                "How is your skin after {weeks} weeks?",
                "Fewer spots, but it's dry.",
                "Use it every other night and add a moisturiser.",
            ],
        ],
        panels: &[],
        referrals: &[
            "Suspicious pigmented lesion on the back",
            "Psoriasis not responding to topical treatment",
            "Severe acne, please consider isotretinoin",
        ],
        replies: &[
            "Dermoscopy benign-looking; excised for histology to be sure.",
            "Extensive plaques; phototherapy arranged.",
            "Started treatment with monthly monitoring.",
        ],
    },
    Specialty {
        name: "Endocrinology",
        who: who(12, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[30, 20, 45],
        conditions: ENDOCRINOLOGY,
        chats: &[
            &[
                "Sensor readings high after dinner",
                "I see peaks around {glucose}. What are you eating in the evening?",
                "Pasta most nights.",
                "Try a smaller portion with vegetables first, and a walk after. We'll look again in two weeks.",
            ],
            &[
                "Thyroid tablet question",
                "Are you taking it on an empty stomach?",
                "With my coffee and breakfast.",
                "Take it half an hour before breakfast; that alone can bring your TSH down.",
            ],
        ],
        panels: &[A1C, BMP, LIPIDS],
        referrals: &[
            "HbA1c rising despite metformin",
            "Abnormal thyroid function tests",
            "Thyroid nodule found on ultrasound",
        ],
        replies: &[
            "Adding a second agent; review in three months with a new HbA1c.",
            "Subclinical hypothyroidism; levothyroxine started.",
            "Fine-needle aspiration arranged.",
        ],
    },
    Specialty {
        name: "Psychiatry",
        who: who(16, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[50, 30, 60],
        conditions: PSYCHIATRY,
        chats: &[
            &[
                "Check-in on the new medication",
                "How have the last {weeks} weeks been?",
                "A bit better. Sleeping {sleep_h} hours now.",
                "That's progress. Keep the same dose and keep up the therapy sessions.",
            ],
            &[
                "Panic attack at work",
                "I'm sorry. Did the breathing exercise help?",
                "A little, after a few minutes.",
                "Practise it daily when calm, so it works better when you need it. We'll talk more on Thursday.",
            ],
        ],
        panels: &[BMP, CBC],
        referrals: &[
            "Depression not improving on first-line treatment",
            "Panic attacks affecting work",
            "Assessment for possible bipolar disorder",
        ],
        replies: &[
            "Assessed; medication changed and weekly therapy arranged.",
            "CBT programme started; review in six weeks.",
            "Mood history taken; diagnosis and treatment plan discussed.",
        ],
    },
    Specialty {
        name: "Neurology",
        who: who(10, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[40, 30, 60],
        conditions: NEUROLOGY,
        chats: &[
            &[
                "Headache diary",
                "Thanks. I count {count} migraine days this month. Is the new tablet helping?",
                "Yes, they are shorter.",
                "Good. Stay on it for three months, then we review.",
            ],
            &[
                "Tingling in my hand is worse",
                "Worse at night? Does shaking the hand help?",
                "Yes, every night.",
                "Wear the splint at night. The nerve test is booked for next week.",
            ],
        ],
        panels: &[BMP],
        referrals: &[
            "New-onset headaches with visual aura",
            "Tremor of the hand, ?Parkinson's disease",
            "First seizure",
            "Numbness and tingling in both feet",
        ],
        replies: &[
            "Migraine with aura; no red flags. Diary and triptan as needed.",
            "Findings consistent with early Parkinson's disease; physiotherapy and follow-up.",
            "MRI and EEG arranged; driving advice given.",
            "Nerve conduction studies confirm a polyneuropathy; work-up under way.",
        ],
    },
    Specialty {
        name: "Orthopedics",
        who: who(8, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[15, 20, 30],
        conditions: ORTHOPEDICS,
        chats: &[&[
            "Knee still sore after physiotherapy",
            "Is it swelling or locking?",
            "Swelling after long walks, no locking.",
            "Keep the exercises going. If it's not better in {weeks} weeks we'll get an MRI.",
        ]],
        panels: &[],
        referrals: &[
            "Persistent knee pain after a fall, no improvement with physiotherapy",
            "Shoulder pain limiting movement for three months",
            "Advanced knee osteoarthritis, consider joint replacement",
        ],
        replies: &[
            "MRI shows a small meniscal tear; conservative care first.",
            "Rotator cuff impingement; injection given and physiotherapy.",
            "Listed for knee replacement after discussing risks and benefits.",
        ],
    },
    Specialty {
        name: "Obstetrics and Gynecology",
        who: women(13, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[20, 30, 40],
        conditions: OBGYN,
        chats: &[
            &[
                "Nausea in early pregnancy",
                "How many weeks are you now, and can you keep fluids down?",
                "{ga} weeks. Fluids yes, food not much.",
                "Small frequent meals and ginger help. Call us if you can't keep fluids down for a day.",
            ],
            &[
                "Hot flushes keep me awake",
                "How many a night?",
                "Three or four.",
                "Let's talk about treatment options; I've booked you a visit next week.",
            ],
        ],
        panels: &[CBC],
        referrals: &[
            "Heavy menstrual bleeding with anemia",
            "Positive pregnancy test, first prenatal visit",
            "Menopausal symptoms affecting sleep",
        ],
        replies: &[
            "Ultrasound booked; iron started and options discussed.",
            "Booking visit done; dating scan arranged.",
            "Hormone therapy discussed and started.",
        ],
    },
    Specialty {
        name: "Pulmonology",
        who: who(12, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[30, 20, 45],
        conditions: PULMONOLOGY,
        chats: &[&[
            "Breathing worse this week",
            "Is there more sputum, or a change of colour?",
            "More, and it's green.",
            "Start your rescue pack today and call if you're more breathless tomorrow.",
        ]],
        panels: &[CBC],
        referrals: &[
            "Chronic cough for three months, normal chest X-ray",
            "Snoring and daytime sleepiness",
            "Breathlessness in a former smoker",
        ],
        replies: &[
            "Spirometry normal; trial of treatment for postnasal drip.",
            "Sleep study arranged.",
            "Spirometry shows COPD; inhalers and rehabilitation started.",
        ],
    },
    Specialty {
        name: "Gastroenterology",
        who: who(14, 120),
        men: None,
        primary: false,
        urgent: false,
        minutes: &[30, 20, 45],
        conditions: GASTROENTEROLOGY,
        chats: &[&[
            "Bloating after meals",
            "Have you started the low-FODMAP diet?",
            "Two weeks ago, it's a bit better.",
            "Keep going for six weeks, then we reintroduce foods one at a time.",
        ]],
        panels: &[CBC, BMP],
        referrals: &[
            "Iron deficiency anemia, please consider endoscopy",
            "Reflux symptoms despite eight weeks of PPI",
            "Change in bowel habit at 55",
        ],
        replies: &[
            "Gastroscopy and colonoscopy booked.",
            "Endoscopy normal; lifestyle measures and step-down plan.",
            "Colonoscopy arranged within two weeks.",
        ],
    },
    Specialty {
        name: "Urology",
        who: ADULT,
        men: Some(0.8),
        primary: false,
        urgent: false,
        minutes: &[20, 15, 30],
        conditions: UROLOGY,
        chats: &[&[
            "Up at night to pass urine",
            "How many times since starting the tablet?",
            "Twice instead of four times.",
            "Good response. Continue, and we'll check your PSA before the next visit.",
        ]],
        panels: &[BMP],
        referrals: &[
            "Raised PSA on two tests",
            "Visible blood in the urine",
            "Recurrent kidney stones",
        ],
        replies: &[
            "MRI of the prostate arranged; biopsy depending on the result.",
            "Cystoscopy normal; CT urogram ordered.",
            "Stone analysis and metabolic work-up done; prevention plan given.",
        ],
    },
    Specialty {
        name: "Urgent Care",
        who: ANYONE,
        men: None,
        primary: false,
        urgent: true,
        minutes: &[15, 20, 30],
        conditions: URGENT_CARE,
        chats: &[],
        panels: &[CBC],
        referrals: &[],
        replies: &[],
    },
];

/// Fills a template's `{name}`s from the random source; `{Name}` capitalises the value.
/// Panics on a name it does not know (the unit tests fill every template).
pub(super) fn fill(template: &str, rng: &mut StdRng) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..].find('}').expect("a closed placeholder") + open;
        let name = &rest[open + 1..close];
        let value = value(&name.to_lowercase(), rng);
        if name.starts_with(char::is_uppercase) {
            let mut chars = value.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(&value);
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

fn value(name: &str, rng: &mut StdRng) -> String {
    let int = |rng: &mut StdRng, lo: i64, hi: i64| rng.gen_range(lo..=hi).to_string();
    let dec = |rng: &mut StdRng, lo: f64, hi: f64| format!("{:.1}", rng.gen_range(lo..hi));
    match name {
        "bp" => format!("{}/{}", rng.gen_range(108..=138), rng.gen_range(66..=86)),
        "bp_high" => format!("{}/{}", rng.gen_range(142..=172), rng.gen_range(88..=104)),
        "bp_child" => format!("{}/{}", rng.gen_range(92..=112), rng.gen_range(54..=70)),
        "hr" => int(rng, 58, 92),
        "hr_fast" => int(rng, 104, 148),
        "fhr" => int(rng, 125, 160),
        "temp" => dec(rng, 36.3, 37.6),
        "fever" => dec(rng, 37.9, 39.8),
        "spo2" => int(rng, 95, 99),
        "spo2_low" => int(rng, 88, 93),
        "bmi" => dec(rng, 27.0, 39.5),
        "a1c" => dec(rng, 6.4, 8.4),
        "a1c_high" => dec(rng, 8.6, 11.8),
        "glucose" => int(rng, 112, 240),
        // High enough to treat; on treatment; a little over the 130 mg/dL a healthy adult aims at.
        "ldl" => int(rng, 160, 212),
        "ldl_ok" => int(rng, 70, 118),
        "ldl_mild" => int(rng, 131, 158),
        "tsh" => dec(rng, 5.6, 14.0),
        "tsh_ok" => dec(rng, 0.8, 3.6),
        "hb" => dec(rng, 8.6, 11.8),
        "egfr" => int(rng, 32, 59),
        "ef" => int(rng, 28, 48),
        "fev1" => int(rng, 42, 79),
        "psa" => dec(rng, 4.2, 12.5),
        "psa_ok" => dec(rng, 0.8, 3.9),
        "phq9" => int(rng, 8, 22),
        "gad7" => int(rng, 8, 19),
        "moca" => int(rng, 16, 25),
        "tug" => int(rng, 13, 24),
        "tscore" => dec(rng, -3.6, -2.5),
        "chads" => int(rng, 1, 5),
        "ipss" => int(rng, 8, 24),
        "epworth" => int(rng, 11, 20),
        "ahi" => int(rng, 12, 48),
        "tir" => int(rng, 48, 82),
        "vitd" => int(rng, 8, 19),
        "bsa" => int(rng, 2, 15),
        "packs" => int(rng, 15, 60),
        "units" => int(rng, 0, 14),
        "mm" => int(rng, 3, 12),
        "cm" => int(rng, 1, 6),
        "stone" => int(rng, 3, 9),
        "nodule" => dec(rng, 0.8, 2.6),
        "kg" => int(rng, 2, 7),
        "km" => int(rng, 2, 12),
        "ga" => int(rng, 8, 38),
        "cycle" => int(rng, 38, 90),
        "centile" => ["9", "25", "50", "50", "75", "91"]
            .choose(rng)
            .expect("non-empty")
            .to_string(),
        "pain" => int(rng, 3, 8),
        "count" => int(rng, 2, 9),
        "nights" => int(rng, 2, 10),
        "falls" => int(rng, 2, 4),
        "polyps" => int(rng, 1, 3),
        "stitches" => int(rng, 3, 8),
        "sleep_h" => int(rng, 3, 6),
        "minutes_n" => int(rng, 5, 40),
        "hours" => int(rng, 1, 12),
        "days" => int(rng, 2, 10),
        "weeks" => ["2", "3", "4", "6", "8", "12"]
            .choose(rng)
            .expect("non-empty")
            .to_string(),
        "months" => int(rng, 2, 9),
        "years" => int(rng, 2, 10),
        "side" => ["left", "right"]
            .choose(rng)
            .expect("non-empty")
            .to_string(),
        "lot" => format!(
            "{}{}{:04}",
            (b'A' + rng.gen_range(0..26)) as char,
            (b'A' + rng.gen_range(0..26)) as char,
            rng.gen_range(0..10_000)
        ),
        other => panic!("the demo's template names an unknown value: {{{other}}}"),
    }
}

/// A person's age in whole years on `day`.
pub(super) fn age_on(birth: NaiveDate, day: NaiveDate) -> u32 {
    day.years_since(birth).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn templates() -> Vec<&'static str> {
        let mut all = Vec::new();
        for s in SPECIALTIES {
            for c in s.conditions {
                all.extend(c.notes.iter().copied());
                all.extend(c.reasons.iter().copied());
            }
            for chat in s.chats {
                all.extend(chat.iter().copied());
            }
        }
        all
    }

    #[test]
    fn every_template_fills() {
        let mut rng = StdRng::seed_from_u64(1);
        for t in templates() {
            let text = fill(t, &mut rng);
            assert!(!text.contains('{') && !text.contains('}'), "{text}");
        }
    }

    #[test]
    fn the_tables_hold_together() {
        for name in ROSTER {
            specialty(name);
        }
        for s in SPECIALTIES {
            assert!(
                !s.conditions.is_empty() && !s.minutes.is_empty(),
                "{}",
                s.name
            );
            assert!(s.referrals.len() == s.replies.len(), "{}", s.name);
            for c in s.conditions {
                // ICD-10-CM: a letter, two characters, then an optional dot and up to four.
                let b = c.code.as_bytes();
                assert!(
                    b[0].is_ascii_uppercase()
                        && b[1].is_ascii_digit()
                        && (b.len() == 3 || b[3] == b'.'),
                    "{}",
                    c.code
                );
                assert!(!c.reasons.is_empty() && !c.notes.is_empty(), "{}", c.code);
                // Someone the specialty sees has the condition.
                let seen = (0..100).any(|age| {
                    [Sex::Female, Sex::Male]
                        .iter()
                        .any(|&sex| s.who.fits(age, sex) && c.who.fits(age, sex))
                });
                assert!(seen, "{} in {}", c.code, s.name);
                <crate::domains::records::RecordType as crate::kit::WireEnum>::parse(c.kind)
                    .expect("a record type");
            }
        }
    }
}
