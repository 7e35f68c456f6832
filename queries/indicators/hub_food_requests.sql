/*
id = "hub_food_requests"
title = "Community hub food requests"
definition = "Requests for food made to the community hub, crude rate per 1,000 population; by age group with the hub's own age bands."
source = "community_hub"
measure = "crude_rate"
multiplier = 1000
polarity = "no_judgement"
grain = "week"
disclosure_threshold = 8
breakdowns = ["imd_quintile", "imd_decile", "local_imd_quintile", "age_band"]
age_bands = ["0-17", "18-29", "30-49", "50-69", "70+"]
[denominator]
kind = "population"
*/
SELECT lsoa_code, request_date AS event_date, age_band, 1 AS numerator
FROM community_hub
WHERE request_type = 'food'
