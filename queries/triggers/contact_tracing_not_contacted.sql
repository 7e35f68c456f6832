/*
id = "contact_tracing_not_contacted"
title = "Contact tracing: cases not contacted"
dataset = "contact_tracing"
levels = ["place", "locality", "neighbourhood"]
strata = ["local_imd_quintile"]
methods = ["ears-c2", "cusum"]
direction = "up"
population_offset = false
provisional_weeks = 2
close_after = 3
[escalation]
thresholds = [10.0, 25.0, 50.0]
consecutive = 2
per = "count"
*/
SELECT lsoa_code, referral_date AS event_date, CASE WHEN outcome = 'no_contact' THEN 1 ELSE 0 END AS numerator
FROM contact_tracing
