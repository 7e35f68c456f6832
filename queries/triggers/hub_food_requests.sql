/*
id = "hub_food_requests"
title = "Community hub food requests"
dataset = "community_hub"
levels = ["place", "locality", "neighbourhood"]
strata = ["local_imd_quintile"]
methods = ["ears-c2", "cusum"]
direction = "up"
population_offset = false
provisional_weeks = 2
close_after = 3
[escalation]
thresholds = [50.0, 150.0, 300.0]
consecutive = 1
per = "count"
*/
SELECT lsoa_code, request_date AS event_date, 1 AS numerator
FROM community_hub
WHERE request_type = 'food'
