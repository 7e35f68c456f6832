/*
id = "contact_tracing_success"
title = "Contact tracing: cases contacted"
definition = "Proportion of COVID-19 cases referred to the local tracing team who were contacted (contact made, or the case contacted the team by phone), per cent. Companion indicators give the other outcomes."
source = "contact_tracing"
measure = "proportion"
multiplier = 100
polarity = "higher_is_better"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile"]
[denominator]
kind = "dataset"
*/
SELECT lsoa_code, referral_date AS event_date, age,
       CASE WHEN outcome IN ('contact_made', 'seeker_contact_by_phone') THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM contact_tracing
