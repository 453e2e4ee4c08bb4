// One schema for both backends. Ids are UUID strings (Text), timestamps are UTC `Timestamp`,
// list-valued columns hold JSON text, so the same types exist on SQLite and PostgreSQL.

diesel::table! {
    roles (id) {
        id -> Text,
        name -> Text,
        description -> Text,
        permissions -> Text,
        built_in -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_lower -> Text,
        password_hash -> Text,
        display_name -> Text,
        is_active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    user_roles (user_id, role_id) {
        user_id -> Text,
        role_id -> Text,
    }
}

diesel::table! {
    sessions (token_hash) {
        token_hash -> Text,
        user_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    patients (id) {
        id -> Text,
        mrn -> Text,
        user_id -> Nullable<Text>,
        given_name -> Text,
        family_name -> Text,
        birth_date -> Date,
        sex -> Text,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        address -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    doctors (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        given_name -> Text,
        family_name -> Text,
        specialty -> Text,
        license_number -> Text,
        email -> Text,
        phone -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    care_team (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        source -> Text,
        since -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    break_glass_grants (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        reason -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        title -> Text,
        body -> Text,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_outbox (id) {
        id -> BigInt,
        occurred_at -> Timestamp,
        user_id -> Nullable<Text>,
        role -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        outcome -> Text,
        request_id -> Nullable<Text>,
        client_addr -> Nullable<Text>,
        seq -> BigInt,
        mac -> Text,
    }
}

diesel::table! {
    audit_outbox_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
        tag -> Text,
    }
}

diesel::table! {
    audit_logs (seq) {
        seq -> BigInt,
        occurred_at -> Timestamp,
        user_id -> Nullable<Text>,
        role -> Nullable<Text>,
        action -> Text,
        resource_type -> Text,
        resource_id -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        outcome -> Text,
        request_id -> Nullable<Text>,
        client_addr -> Nullable<Text>,
        hash -> Text,
    }
}

diesel::table! {
    audit_key_check (id) {
        id -> Integer,
        tag -> Text,
        claimed_at -> Timestamp,
    }
}

diesel::table! {
    audit_head (id) {
        id -> Integer,
        seq -> BigInt,
        hash -> Text,
        indexed_seq -> BigInt,
        indexed_hash -> Text,
        rebuild_seq -> BigInt,
        rebuild_from -> BigInt,
        outbox_seq -> BigInt,
        outbox_hash -> Text,
        outbox_legacy_id -> BigInt,
    }
}

diesel::table! {
    audit_index (bucket, kind, lookup_key, seq) {
        bucket -> BigInt,
        kind -> BigInt,
        lookup_key -> BigInt,
        seq -> BigInt,
    }
}

diesel::joinable!(user_roles -> users (user_id));
diesel::joinable!(user_roles -> roles (role_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(care_team -> patients (patient_id));
diesel::joinable!(care_team -> doctors (doctor_id));
diesel::joinable!(notifications -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_key_check,
    roles,
    users,
    user_roles,
    sessions,
    counters,
    patients,
    doctors,
    care_team,
    break_glass_grants,
    notifications,
    audit_outbox,
    audit_outbox_head,
    audit_logs,
    audit_head,
    audit_index,
    appointments,
    medical_records,
    medical_record_versions,
    consent_forms,
    consent_history,
    virtual_visits,
    video_sessions,
    chat_logs,
    chat_tickets,
    lab_orders,
    lab_results,
    lab_result_versions,
    diagnostic_images,
    referral_statuses,
    referral_status_arrows,
    referral_requests,
    referral_transitions,
    specialist_notes,
    medications,
    pharmacies,
    pharmacy_staff,
    prescriptions,
    pharmacy_orders,
    idempotency_keys,
    fhir_imports,
    insurance_plans,
    claims,
    claim_lines,
    invoices,
    invoice_lines,
    payments,
    wearable_devices,
    device_data,
    monitoring_rules,
    remote_monitoring_logs,
    messages,
    feedback,
    surveys,
    survey_responses,
    survey_answers,
    educational_resources,
    educational_resource_tags,
    education_recommendations,
);

diesel::table! {
    appointments (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        start_time -> Timestamp,
        end_time -> Timestamp,
        status -> Text,
        reason -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    medical_records (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        appointment_id -> Nullable<Text>,
        record_type -> Text,
        title -> Text,
        content -> Text,
        diagnosis_codes -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    medical_record_versions (id) {
        id -> Text,
        record_id -> Text,
        version -> Integer,
        changed_by -> Text,
        changed_at -> Timestamp,
        record_type -> Text,
        title -> Text,
        content -> Text,
        diagnosis_codes -> Text,
        status -> Text,
    }
}

diesel::table! {
    consent_forms (id) {
        id -> Text,
        kind -> Text,
        title -> Text,
        body -> Text,
        version -> Integer,
        active -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    consent_history (id) {
        id -> Text,
        consent_form_id -> Text,
        user_id -> Text,
        action -> Text,
        recorded_at -> Timestamp,
        client_addr -> Nullable<Text>,
    }
}

diesel::joinable!(consent_history -> consent_forms (consent_form_id));

diesel::table! {
    virtual_visits (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        appointment_id -> Nullable<Text>,
        scheduled_start -> Timestamp,
        scheduled_end -> Timestamp,
        reason -> Nullable<Text>,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        started_at -> Nullable<Timestamp>,
        ended_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    video_sessions (id) {
        id -> Text,
        virtual_visit_id -> Text,
        room -> Text,
        join_url -> Nullable<Text>,
        started_by -> Text,
        started_at -> Timestamp,
        ended_by -> Nullable<Text>,
        ended_at -> Nullable<Timestamp>,
        duration_seconds -> Nullable<BigInt>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    chat_logs (id) {
        id -> Text,
        virtual_visit_id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        sender_user_id -> Text,
        body -> Text,
        sent_at -> Timestamp,
    }
}

diesel::table! {
    chat_tickets (ticket_hash) {
        ticket_hash -> Text,
        virtual_visit_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    lab_orders (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        appointment_id -> Nullable<Text>,
        test_code -> Text,
        test_name -> Text,
        priority -> Text,
        priority_rank -> Integer,
        status -> Text,
        notes -> Nullable<Text>,
        cancel_reason -> Nullable<Text>,
        collected_at -> Nullable<Timestamp>,
        collected_by -> Nullable<Text>,
        resulted_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    lab_results (id) {
        id -> Text,
        lab_order_id -> Text,
        patient_id -> Text,
        test_code -> Text,
        value -> Text,
        value_numeric -> Nullable<Double>,
        unit -> Nullable<Text>,
        reference_low -> Nullable<Double>,
        reference_high -> Nullable<Double>,
        interpretation -> Text,
        status -> Text,
        note -> Nullable<Text>,
        resulted_by -> Text,
        resulted_at -> Timestamp,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    lab_result_versions (id) {
        id -> Text,
        lab_result_id -> Text,
        version -> Integer,
        value -> Text,
        value_numeric -> Nullable<Double>,
        unit -> Nullable<Text>,
        reference_low -> Nullable<Double>,
        reference_high -> Nullable<Double>,
        interpretation -> Text,
        status -> Text,
        note -> Nullable<Text>,
        changed_by -> Text,
        changed_at -> Timestamp,
    }
}

diesel::table! {
    diagnostic_images (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Nullable<Text>,
        lab_order_id -> Nullable<Text>,
        modality -> Text,
        body_site -> Nullable<Text>,
        description -> Nullable<Text>,
        taken_at -> Nullable<Timestamp>,
        status -> Text,
        content_type -> Nullable<Text>,
        size_bytes -> Nullable<BigInt>,
        sha256 -> Nullable<Text>,
        blob_key -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    referral_statuses (id) {
        id -> Text,
        code -> Text,
        display -> Text,
        is_final -> Bool,
        position -> Integer,
    }
}

diesel::table! {
    referral_status_arrows (from_status_id, to_status_id) {
        from_status_id -> Text,
        to_status_id -> Text,
        parties -> Text,
    }
}

diesel::table! {
    referral_requests (id) {
        id -> Text,
        patient_id -> Text,
        referring_doctor_id -> Text,
        specialist_id -> Text,
        status_id -> Text,
        status -> Text,
        reason -> Text,
        priority -> Text,
        specialty -> Nullable<Text>,
        appointment_id -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    referral_transitions (id) {
        id -> Text,
        referral_request_id -> Text,
        from_status -> Nullable<Text>,
        to_status -> Text,
        by_user_id -> Nullable<Text>,
        at -> Timestamp,
        reason -> Nullable<Text>,
    }
}

diesel::table! {
    specialist_notes (id) {
        id -> Text,
        referral_request_id -> Text,
        specialist_id -> Text,
        author_user_id -> Nullable<Text>,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    medications (id) {
        id -> Text,
        name -> Text,
        code -> Text,
        form -> Nullable<Text>,
        strength -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    pharmacies (id) {
        id -> Text,
        name -> Text,
        address -> Nullable<Text>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    pharmacy_staff (pharmacy_id, user_id) {
        pharmacy_id -> Text,
        user_id -> Text,
        since -> Timestamp,
    }
}

diesel::table! {
    prescriptions (id) {
        id -> Text,
        patient_id -> Text,
        doctor_id -> Text,
        medication_id -> Text,
        dosage -> Text,
        frequency -> Text,
        quantity -> Integer,
        refills -> Integer,
        refills_remaining -> Integer,
        fills_used -> Integer,
        instructions -> Nullable<Text>,
        valid_until -> Nullable<Date>,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    pharmacy_orders (id) {
        id -> Text,
        prescription_id -> Text,
        pharmacy_id -> Text,
        patient_id -> Text,
        status -> Text,
        cancel_reason -> Nullable<Text>,
        received_at -> Nullable<Timestamp>,
        filled_at -> Nullable<Timestamp>,
        picked_up_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    idempotency_keys (user_id, idem_key) {
        user_id -> Text,
        idem_key -> Text,
        fingerprint -> Text,
        response -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        patient_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    insurance_plans (id) {
        id -> Text,
        name -> Text,
        payer -> Text,
        plan_code -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    claims (id) {
        id -> Text,
        patient_id -> Text,
        plan_id -> Text,
        member_id -> Text,
        service_date -> Date,
        appointment_id -> Nullable<Text>,
        currency -> Text,
        total_minor -> BigInt,
        status -> Text,
        approved_minor -> Nullable<BigInt>,
        paid_minor -> BigInt,
        denial_reason -> Nullable<Text>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    claim_lines (id) {
        id -> Text,
        claim_id -> Text,
        position -> Integer,
        code -> Text,
        description -> Text,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    invoices (id) {
        id -> Text,
        number -> BigInt,
        patient_id -> Text,
        claim_id -> Nullable<Text>,
        currency -> Text,
        total_minor -> BigInt,
        paid_minor -> BigInt,
        status -> Text,
        issued_at -> Nullable<Timestamp>,
        due_date -> Nullable<Date>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> Text,
        invoice_id -> Text,
        position -> Integer,
        description -> Text,
        quantity -> BigInt,
        unit_minor -> BigInt,
        amount_minor -> BigInt,
    }
}

diesel::table! {
    payments (id) {
        id -> Text,
        claim_id -> Nullable<Text>,
        invoice_id -> Nullable<Text>,
        patient_id -> Text,
        amount_minor -> BigInt,
        currency -> Text,
        method -> Text,
        reference -> Nullable<Text>,
        paid_at -> Timestamp,
        recorded_by -> Nullable<Text>,
    }
}

diesel::table! {
    wearable_devices (id) {
        id -> Text,
        user_id -> Text,
        patient_id -> Text,
        kind -> Text,
        manufacturer -> Text,
        model -> Nullable<Text>,
        serial_number -> Text,
        status -> Text,
        token_hash -> Text,
        last_seen_at -> Nullable<Timestamp>,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    device_data (device_id, metric, recorded_ms) {
        device_id -> Text,
        metric -> Text,
        recorded_ms -> BigInt,
        value -> Double,
    }
}

diesel::table! {
    monitoring_rules (patient_id, metric) {
        patient_id -> Text,
        metric -> Text,
        warning_low -> Nullable<Double>,
        warning_high -> Nullable<Double>,
        critical_low -> Nullable<Double>,
        critical_high -> Nullable<Double>,
        set_by -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    remote_monitoring_logs (id) {
        id -> Text,
        device_id -> Text,
        patient_id -> Text,
        event_type -> Text,
        severity -> Text,
        metric -> Nullable<Text>,
        value -> Nullable<Double>,
        rule -> Nullable<Text>,
        message -> Text,
        occurrences -> Integer,
        occurred_at -> Timestamp,
        last_occurred_at -> Timestamp,
        acknowledged_by -> Nullable<Text>,
        acknowledged_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        thread_id -> Text,
        reply_to -> Nullable<Text>,
        sender_id -> Text,
        receiver_id -> Text,
        subject -> Text,
        body -> Text,
        sent_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    feedback (id) {
        id -> Text,
        user_id -> Text,
        rating -> Integer,
        category -> Text,
        comment -> Nullable<Text>,
        appointment_id -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    surveys (id) {
        id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        audience -> Text,
        questions -> Text,
        active -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    survey_responses (id) {
        id -> Text,
        survey_id -> Text,
        user_id -> Text,
        submitted_at -> Timestamp,
    }
}

diesel::table! {
    survey_answers (response_id, question_id, position) {
        response_id -> Text,
        question_id -> Text,
        position -> Integer,
        survey_id -> Text,
        option_value -> Nullable<Text>,
        number_value -> Nullable<Integer>,
        text_value -> Nullable<Text>,
    }
}

diesel::table! {
    educational_resources (id) {
        id -> Text,
        title -> Text,
        summary -> Text,
        body -> Text,
        url -> Nullable<Text>,
        category -> Text,
        language -> Text,
        published -> Bool,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        version -> Integer,
    }
}

diesel::table! {
    educational_resource_tags (resource_id, tag) {
        resource_id -> Text,
        tag -> Text,
    }
}

diesel::table! {
    education_recommendations (id) {
        id -> Text,
        patient_id -> Text,
        resource_id -> Text,
        doctor_id -> Text,
        note -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    fhir_imports (source) {
        source -> Text,
        kind -> Text,
        target_id -> Text,
        imported_at -> Timestamp,
    }
}
