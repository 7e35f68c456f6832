/*
id = "police_domestic_abuse"
title = "Police domestic-abuse incidents"
dataset = "police"
levels = ["place", "locality", "neighbourhood", "ward"]
strata = ["local_imd_quintile"]
methods = ["farrington-flexible", "ears-c2", "cusum", "baseline"]
direction = "both"
population_offset = false
provisional_weeks = 2
close_after = 3
*/
SELECT lsoa_code, incident_date AS event_date, 1 AS numerator
FROM police
WHERE category = 'domestic_abuse'
