/*
id = "contact_tracing_referred_to_setting"
title = "Contact tracing: cases referred to a school or vulnerable setting"
definition = "Proportion of COVID-19 cases referred to the local tracing team who were referred on to a school or vulnerable-setting team, per cent."
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
       CASE WHEN outcome = 'referred_to_setting' THEN 1 ELSE 0 END AS numerator,
       1 AS denominator
FROM contact_tracing
