//! The demo's educational library: short articles on common conditions, in English and a few
//! in Spanish, written through the portal's rules; doctors then recommend some to patients
//! they have seen.

use std::collections::BTreeSet;

use rand::seq::SliceRandom;

use super::appointments::Schedule;
use super::{Cast, Ctx, DemoReport};
use crate::db::DbConn;
use crate::domains::portal::{self, NewRecommendation, NewResource, ResourceId};

/// (category, title, summary, body, tags, language)
type Article = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
);

const LIBRARY: &[Article] = &[
    ("heart", "High blood pressure: what the numbers mean",
     "Blood pressure readings explained, and when to worry.",
     "## Two numbers\n\nThe first (systolic) is the pressure while your heart beats; the second (diastolic) while it rests.\n\n- Below 120/80 is normal.\n- 130/80 or above on repeated readings is high blood pressure.\n- 180/120 or above with chest pain, weakness or trouble speaking: call emergency services.\n\nMeasure at the same time each day, seated, after five minutes of rest.",
     &["hypertension", "monitoring"], "en"),
    ("heart", "Lowering blood pressure without medicine",
     "Salt, movement, weight and alcohol: the changes that help most.",
     "## What helps\n\n- Eat less salt: aim for under 5 g a day; read labels on bread, cheese and ready meals.\n- Walk briskly 30 minutes on most days.\n- Losing even 5 kg lowers the top number by about 5 points.\n- Keep alcohol to one or two drinks a day at most.\n\nKeep taking any prescribed medicine while you make these changes.",
     &["hypertension", "diet", "exercise"], "en"),
    ("heart", "Living with heart failure",
     "Daily weight, fluids and symptoms to report.",
     "## Every day\n\n- Weigh yourself each morning after using the toilet. A gain of 2 kg in three days can mean fluid build-up: call your care team.\n- Follow the fluid limit your doctor gave you.\n- Sleep with extra pillows if you are short of breath lying flat, and tell your doctor.\n\nTake your medicines even when you feel well.",
     &["heart-failure", "weight", "monitoring"], "en"),
    ("heart", "Cholesterol and your heart",
     "LDL, HDL and what statins do.",
     "## The numbers\n\nLDL cholesterol builds up in artery walls; HDL carries it away. Your doctor looks at your overall risk, not one number.\n\n## Lowering LDL\n\n- Swap butter and fatty meat for olive oil, fish, beans and nuts.\n- Statins lower LDL by a third to a half. Muscle aches are uncommon; report them rather than stopping.",
     &["cholesterol", "diet", "statins"], "en"),
    ("heart", "Atrial fibrillation and stroke prevention",
     "An irregular heartbeat, and why blood thinners are often advised.",
     "## What it is\n\nIn atrial fibrillation the upper chambers of the heart quiver instead of beating. Blood can pool and clot, and a clot can cause a stroke.\n\n## What helps\n\n- Anticoagulants cut the risk of stroke by about two thirds.\n- Know the signs of stroke: face drooping, arm weakness, speech trouble — call emergency services at once.",
     &["arrhythmia", "anticoagulants", "stroke"], "en"),
    ("diabetes", "Type 2 diabetes: the first weeks",
     "What the diagnosis means and the first steps to take.",
     "## What it is\n\nYour body does not use insulin well, so glucose stays high in the blood. Over years this harms eyes, kidneys, nerves and the heart.\n\n## First steps\n\n- Learn to check your glucose if your doctor asks you to.\n- Fill half your plate with vegetables; choose whole grains.\n- Walk after meals: it lowers glucose.\n- Ask about a diabetes education class.",
     &["type-2", "glucose", "diet"], "en"),
    ("diabetes", "Low blood sugar (hypoglycemia)",
     "Recognise it and treat it with the 15-15 rule.",
     "## Signs\n\nShaking, sweating, hunger, confusion, a fast heartbeat.\n\n## The 15-15 rule\n\n1. Take 15 g of fast sugar: half a glass of juice or 4 glucose tablets.\n2. Check again after 15 minutes.\n3. Repeat if still below 4 mmol/L (70 mg/dL), then eat a snack.\n\nTell your doctor about every episode: your medicine may need changing.",
     &["hypoglycemia", "glucose", "insulin"], "en"),
    ("diabetes", "Caring for your feet with diabetes",
     "Daily checks that prevent ulcers.",
     "## Every day\n\n- Look at your feet, soles included (use a mirror).\n- Wash and dry well between the toes.\n- Never walk barefoot.\n\nSee your care team within a day for any wound, blister or colour change that does not improve.",
     &["foot-care", "neuropathy"], "en"),
    ("diabetes", "Understanding your HbA1c",
     "The three-month glucose average and your target.",
     "## What it measures\n\nHbA1c shows your average glucose over about three months. Many adults aim for below 7% (53 mmol/mol), but your target depends on you.\n\nIt is checked every three to six months. Each 1% drop lowers the risk of eye, kidney and nerve damage.",
     &["hba1c", "lab-tests"], "en"),
    ("respiratory", "Asthma action plan",
     "Green, yellow and red zones, and what to do in each.",
     "## Zones\n\n- **Green**: no symptoms — take your preventer daily.\n- **Yellow**: cough, wheeze, night waking — use your reliever and follow your plan's step-up.\n- **Red**: reliever not helping, hard to speak — call emergency services.\n\nBring your plan and inhalers to every visit.",
     &["asthma", "inhalers"], "en"),
    ("respiratory", "Using your inhaler the right way",
     "Technique makes the medicine reach your lungs.",
     "## Metered-dose inhaler\n\n1. Shake, breathe out fully.\n2. Seal your lips round the mouthpiece (or a spacer).\n3. Press once as you start a slow deep breath.\n4. Hold your breath for ten seconds.\n\nRinse your mouth after a steroid inhaler. A spacer helps most people.",
     &["inhalers", "asthma", "copd"], "en"),
    ("respiratory", "COPD: breathing easier",
     "Pulmonary rehabilitation, vaccines and flare-ups.",
     "## What helps\n\n- Stopping smoking is the single most effective step.\n- Pulmonary rehabilitation improves breathlessness and strength.\n- Have your flu and pneumococcal vaccines.\n\n## Flare-ups\n\nMore breathlessness, more or greener sputum: start your rescue pack if you have one and call your care team.",
     &["copd", "smoking", "vaccination"], "en"),
    ("respiratory", "Flu: when to stay home and when to call",
     "Rest, fluids, and the warning signs.",
     "Most people recover in a week with rest, fluids and paracetamol.\n\n## Call your care team if\n\n- You are short of breath or have chest pain.\n- Fever lasts more than three days.\n- You are pregnant, over 65, or have a long-term condition.\n\nA yearly flu vaccine is the best protection.",
     &["influenza", "vaccination", "fever"], "en"),
    ("mental-health", "Depression: more than feeling low",
     "Signs, treatments that work, and where to get help now.",
     "## Signs\n\nLow mood or loss of interest for two weeks or more, with changes in sleep, appetite or energy.\n\n## Treatment\n\nTalking therapies and antidepressants both work; many people use both. Antidepressants take 2–4 weeks to help.\n\nIf you have thoughts of harming yourself, call a crisis line or emergency services now.",
     &["depression", "therapy"], "en"),
    ("mental-health", "Managing anxiety day to day",
     "Breathing, routines and when to seek treatment.",
     "## Try\n\n- Slow breathing: in for four, out for six, for two minutes.\n- Regular exercise and less caffeine.\n- Write worries down and set a time to deal with them.\n\nIf anxiety stops you working or sleeping, talk to your doctor: therapy helps most people.",
     &["anxiety", "stress"], "en"),
    ("mental-health", "Sleeping better",
     "Habits that help insomnia without pills.",
     "## Habits\n\n- Get up at the same time every day.\n- Use the bed only for sleep.\n- If awake for 20 minutes, get up and do something calm until sleepy.\n- No screens an hour before bed; no caffeine after noon.\n\nCognitive behavioural therapy for insomnia works better than sleeping pills in the long run.",
     &["insomnia", "sleep"], "en"),
    ("musculoskeletal", "Low back pain: keep moving",
     "Most back pain improves within six weeks.",
     "## What helps\n\n- Stay active; bed rest slows recovery.\n- Heat and simple painkillers for a few days.\n- Gentle stretching and walking.\n\n## See a doctor urgently if\n\nYou have numbness around the buttocks, trouble passing urine, or weakness in the legs.",
     &["back-pain", "exercise"], "en"),
    ("musculoskeletal", "Knee osteoarthritis",
     "Exercise, weight and pain relief for stiff knees.",
     "## What helps\n\n- Strengthening the thigh muscles reduces pain.\n- Each kilogram lost takes about four kilograms off the knee with every step.\n- Topical anti-inflammatory gels are a safe first choice.\n\nAsk about physiotherapy before considering injections or surgery.",
     &["osteoarthritis", "knee", "exercise"], "en"),
    ("digestive", "Heartburn and reflux",
     "Meals, posture and medicines for acid reflux.",
     "## What helps\n\n- Smaller meals; nothing for three hours before bed.\n- Raise the head of the bed.\n- Cut down on alcohol, coffee, fatty and spicy food.\n\nSee your doctor if food sticks when you swallow, you lose weight, or you vomit blood.",
     &["gerd", "diet"], "en"),
    ("digestive", "Irritable bowel syndrome",
     "A common gut condition, and the low-FODMAP approach.",
     "IBS causes cramps, bloating, diarrhoea or constipation without damage to the gut.\n\n## What helps\n\n- Regular meals, enough water.\n- Soluble fibre (oats) rather than bran.\n- A dietitian-led low-FODMAP diet helps about three in four people.",
     &["ibs", "diet"], "en"),
    ("infection", "Urinary tract infections",
     "Symptoms, treatment and prevention.",
     "## Symptoms\n\nBurning when passing urine, needing to go often, cloudy urine.\n\nA short course of antibiotics usually clears it. Drink plenty of fluids.\n\nSee a doctor the same day for fever, back pain or vomiting: the kidneys may be involved.",
     &["uti", "antibiotics"], "en"),
    ("infection", "Antibiotics: when they help and when they don't",
     "Colds and most sore throats get better without them.",
     "Antibiotics kill bacteria, not viruses. Colds, flu and most coughs are viral.\n\n- Take the whole course as prescribed.\n- Never share or save antibiotics.\n- Side effects include diarrhoea and thrush.\n\nUsing them only when needed keeps them working.",
     &["antibiotics", "resistance"], "en"),
    ("womens-health", "Eating well in pregnancy",
     "Folic acid, foods to avoid, and healthy weight gain.",
     "## Take\n\n- Folic acid 400 µg daily until week 12.\n- Vitamin D daily.\n\n## Avoid\n\nUnpasteurised cheese, raw or undercooked meat and eggs, liver, alcohol.\n\nEat for health, not for two: extra energy is needed only in the last three months.",
     &["pregnancy", "nutrition"], "en"),
    ("womens-health", "Menopause symptoms and treatment",
     "Hot flushes, sleep, mood, and hormone therapy.",
     "Menopause usually happens between 45 and 55.\n\n- Hot flushes: layered clothes, a fan, less alcohol and caffeine.\n- Hormone replacement therapy is the most effective treatment for most women; ask about the benefits and risks for you.\n- Weight-bearing exercise protects your bones.",
     &["menopause", "hrt"], "en"),
    ("children", "Fever in children",
     "How to help and when to get care.",
     "A fever is the body fighting infection.\n\n- Give fluids; dress the child lightly.\n- Paracetamol or ibuprofen can ease discomfort.\n\n## Get care urgently if\n\nThe child is under 3 months with 38 °C or more, has a rash that does not fade when pressed, is floppy, or breathes fast.",
     &["fever", "pediatrics"], "en"),
    ("children", "Childhood vaccinations",
     "Why the schedule matters and what to expect.",
     "Vaccines protect your child from measles, whooping cough, meningitis and more.\n\n- Follow the schedule: early protection matters most.\n- A sore arm or mild fever for a day is common.\n\nBring the vaccination record to every visit.",
     &["vaccination", "pediatrics"], "en"),
    ("medicines", "Taking your medicines safely",
     "Lists, timing, and interactions.",
     "## Tips\n\n- Keep an up-to-date list of everything you take, supplements too.\n- Use a pill organiser and phone reminders.\n- Ask your pharmacist before adding anything over the counter.\n\nDon't stop a medicine without talking to your doctor, even if you feel better.",
     &["adherence", "pharmacy"], "en"),
    ("medicines", "Blood thinners: staying safe",
     "Bleeding signs, other medicines and procedures.",
     "## Watch for\n\nBlack stools, blood in urine, nosebleeds that won't stop, unusual bruising.\n\n- Avoid ibuprofen and aspirin unless prescribed.\n- Tell every dentist and surgeon you take a blood thinner.\n- With warfarin, keep vitamin K intake steady and go to every INR check.",
     &["anticoagulants", "bleeding"], "en"),
    ("prevention", "Quitting smoking",
     "Medicines and support double your chances.",
     "## What works\n\n- Nicotine replacement, varenicline or bupropion with support.\n- Set a quit date and tell people.\n- Expect cravings to pass within a few minutes.\n\nWithin a year of stopping, your risk of heart disease halves.",
     &["smoking", "heart"], "en"),
    ("prevention", "Moving more",
     "150 minutes a week, in whatever way suits you.",
     "Adults need 150 minutes of moderate activity a week — brisk walking, cycling, dancing — and muscle strengthening twice a week.\n\nStart small: ten minutes at a time counts. Being active lowers the risk of heart disease, diabetes, depression and some cancers.",
     &["exercise", "heart"], "en"),
    ("neurology", "Migraine: triggers and treatment",
     "A headache diary, acute treatment and prevention.",
     "## Track\n\nKeep a diary of attacks, sleep, food, and periods to spot triggers.\n\n## Treat early\n\nTake your pain reliever or triptan at the start of the headache. Limit painkillers to under 10 days a month to avoid medication-overuse headache.\n\nAsk about preventive treatment if you have four or more attacks a month.",
     &["migraine", "headache"], "en"),
    ("kidney", "Chronic kidney disease",
     "Protecting your kidneys with blood pressure and glucose control.",
     "Chronic kidney disease often has no symptoms; it is found with blood and urine tests.\n\n- Keep blood pressure and glucose on target.\n- Avoid regular anti-inflammatory painkillers.\n- Ask your pharmacist to check doses: some medicines need changing.",
     &["ckd", "lab-tests", "hypertension"], "en"),
    ("allergy", "Hay fever",
     "Pollen season, antihistamines and nasal sprays.",
     "## What helps\n\n- A steroid nasal spray used daily through the season.\n- Non-drowsy antihistamines.\n- Shower and change clothes after being outdoors; keep windows shut on high-pollen days.",
     &["allergy", "pollen"], "en"),
    ("diabetes", "Diabetes tipo 2: primeros pasos",
     "Qué significa el diagnóstico y cómo empezar.",
     "## Primeros pasos\n\n- Aprenda a medir su glucosa si su médico se lo pide.\n- Llene la mitad del plato con verduras.\n- Camine después de las comidas.\n\nPregunte por un curso de educación en diabetes.",
     &["type-2", "glucose"], "es"),
    ("heart", "Presión arterial alta",
     "Qué significan los números y qué cambios ayudan.",
     "## Qué ayuda\n\n- Menos sal: menos de 5 g al día.\n- Caminar 30 minutos casi todos los días.\n- Tomar la medicación aunque se sienta bien.\n\nMida su presión a la misma hora cada día.",
     &["hypertension", "diet"], "es"),
    ("respiratory", "Asma: su plan de acción",
     "Las zonas verde, amarilla y roja.",
     "- **Verde**: sin síntomas, use su inhalador preventivo cada día.\n- **Amarilla**: tos o silbidos, use su inhalador de rescate.\n- **Roja**: el rescate no ayuda, llame a emergencias.",
     &["asthma", "inhalers"], "es"),
];

/// Writes the library (published, by the system) and has doctors recommend articles to some
/// of the patients they have seen, as the API would (care team checked, patient told).
pub(super) fn load(
    conn: &mut DbConn,
    ctx: &Ctx,
    cast: &Cast,
    schedule: &Schedule,
    report: &mut DemoReport,
) -> anyhow::Result<()> {
    let mut rng = ctx.rng("education");
    let rng = &mut rng;
    let (doctor_people, patient_people) = (&cast.doctors, &cast.patients);
    let seen = &schedule.seen;
    let mut ids: Vec<ResourceId> = Vec::new();
    ctx.run(conn, |tx| {
        for (category, title, summary, body, tags, language) in LIBRARY {
            let r = portal::create_resource(
                tx,
                NewResource {
                    title: title.to_string(),
                    summary: summary.to_string(),
                    body: body.to_string(),
                    url: None,
                    category: category.to_string(),
                    tags: Some(tags.iter().map(|t| t.to_string()).collect()),
                    language: Some(language.to_string()),
                    published: Some(true),
                },
            )?;
            ids.push(r.id);
        }
        Ok(())
    })?;
    report.educational_resources = ids.len();
    // One recommendation for a tenth of the doctor-patient pairs, of an article on what the
    // doctor's specialty treats; a resource once per patient.
    let mut given = BTreeSet::new();
    let mut plan = Vec::new();
    let wanted = (seen.len() / 10).max(5);
    for _ in 0..wanted * 4 {
        if plan.len() == wanted {
            break;
        }
        let pair = *seen.choose(rng).expect("seen");
        let topics = topics(doctor_people[pair.0].specialty.name);
        let fitting: Vec<usize> = (0..LIBRARY.len())
            .filter(|&i| topics.contains(&LIBRARY[i].0))
            .collect();
        let Some(&resource) = fitting.choose(rng) else {
            continue;
        };
        let note = *NOTES.choose(rng).expect("non-empty");
        if given.insert((pair.1, resource)) {
            plan.push((pair, resource, note));
        }
    }
    ctx.run(conn, |tx| {
        for ((di, pi), resource, note) in &plan {
            let (d, p) = (&doctor_people[*di], &patient_people[*pi]);
            let doctor = d.actor(ctx.audit);
            let patient = p.patient_id();
            tx.as_actor(&doctor, |tx| {
                portal::recommend_resource(
                    tx,
                    &patient,
                    NewRecommendation {
                        resource_id: ids[*resource].clone(),
                        note: Some(note.to_string()),
                    },
                )
            })?;
            report.recommendations += 1;
        }
        Ok(())
    })?;
    Ok(())
}

/// What a doctor writes with a recommendation.
const NOTES: &[&str] = &[
    "Worth a read before your next visit.",
    "This explains what we talked about today.",
    "Have a look; bring your questions next time.",
    "A short read on your condition.",
    "The plan we discussed, in writing.",
];

/// The library's categories a specialty recommends from.
fn topics(specialty: &str) -> &'static [&'static str] {
    match specialty {
        "Family Medicine" | "Internal Medicine" => &[
            "heart",
            "diabetes",
            "prevention",
            "medicines",
            "respiratory",
            "infection",
            "digestive",
        ],
        "Geriatrics" => &[
            "heart",
            "medicines",
            "musculoskeletal",
            "kidney",
            "prevention",
        ],
        "Pediatrics" => &["children", "respiratory", "allergy"],
        "Cardiology" => &["heart", "medicines", "prevention"],
        "Endocrinology" => &["diabetes"],
        "Psychiatry" => &["mental-health"],
        "Neurology" => &["neurology", "mental-health"],
        "Orthopedics" => &["musculoskeletal"],
        "Obstetrics and Gynecology" => &["womens-health"],
        "Pulmonology" => &["respiratory", "prevention"],
        "Gastroenterology" => &["digestive"],
        "Urology" => &["infection", "kidney"],
        "Dermatology" => &["allergy"],
        _ => &["infection", "prevention"],
    }
}
