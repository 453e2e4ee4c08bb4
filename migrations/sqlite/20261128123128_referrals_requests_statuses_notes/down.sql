DROP TABLE specialist_notes;
DROP TABLE referral_transitions;
DROP TABLE referral_requests;
DROP TABLE referral_status_arrows;
DROP TABLE referral_statuses;
