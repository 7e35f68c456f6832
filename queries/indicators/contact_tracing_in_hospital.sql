/*
id = "contact_tracing_in_hospital"
title = "Contact tracing: cases in hospital"
definition = "Proportion of COVID-19 cases referred to the local tracing team who were in hospital, per cent."
source = "contact_tracing"
measure = "proportion"
multiplier = 100
polarity = "no_judgement"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile"]
[denominator]
kind = "dataset"
*/
SELECT lsoa_code, referral_date AS event_date, age,
       CASE WHEN outcome = 'in_hospital' THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM contact_tracing
