/*
id = "police_domestic_abuse"
title = "Domestic abuse incidents"
definition = "Police-recorded domestic abuse incidents, crude rate per 1,000 population aged 16 and over."
source = "police"
measure = "crude_rate"
multiplier = 1000
polarity = "lower_is_better"
grain = "month"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile"]
[denominator]
kind = "population"
age_min = 16
age_max = 90
*/
SELECT lsoa_code, incident_date AS event_date, 1 AS numerator
FROM police
WHERE category = 'domestic_abuse'
