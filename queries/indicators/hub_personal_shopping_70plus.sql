/*
id = "hub_personal_shopping_70plus"
title = "Community hub personal-shopping requests, aged 70+"
definition = "Requests for personal shopping made to the community hub by people aged 70 and over, crude rate per 1,000 population aged 70+."
source = "community_hub"
measure = "crude_rate"
multiplier = 1000
polarity = "no_judgement"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile"]
[denominator]
kind = "population"
age_min = 70
age_max = 90
*/
SELECT lsoa_code, request_date AS event_date, 1 AS numerator
FROM community_hub
WHERE request_type = 'personal_shopping' AND age_band = '70+'
