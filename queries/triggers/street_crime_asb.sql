/*
id = "street_crime_asb"
title = "Anti-social behaviour (police.uk, monthly)"
dataset = "street_crime"
frequency = "month"
levels = ["place", "ward"]
methods = ["farrington-flexible", "ears-c1", "ears-c2", "ears-c3"]
direction = "up"
*/
SELECT lsoa_code, month AS event_date, 1 AS numerator
FROM street_crime
WHERE crime_type = 'Anti-social behaviour'
