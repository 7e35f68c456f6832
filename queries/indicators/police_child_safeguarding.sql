/*
id = "police_child_safeguarding"
title = "Child safeguarding incidents"
definition = "Police-recorded child safeguarding incidents, crude rate per 1,000 population aged 0-17."
source = "police"
measure = "crude_rate"
multiplier = 1000
polarity = "lower_is_better"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile"]
[denominator]
kind = "population"
age_min = 0
age_max = 17
*/
SELECT lsoa_code, incident_date AS event_date, 1 AS numerator
FROM police
WHERE category = 'child_safeguarding'
