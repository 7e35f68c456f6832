/*
id = "contact_tracing_no_contact"
title = "Contact tracing: cases not contacted"
definition = "Proportion of COVID-19 cases referred to the local tracing team who could not be contacted, per cent."
source = "contact_tracing"
measure = "proportion"
multiplier = 100
polarity = "lower_is_better"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile"]
[denominator]
kind = "dataset"
*/
SELECT lsoa_code, referral_date AS event_date, age,
       CASE WHEN outcome = 'no_contact' THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM contact_tracing
