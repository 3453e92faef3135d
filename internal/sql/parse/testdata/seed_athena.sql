SELECT Count(*) as "operating_devices_count", -- 1
ST_AsText(ST_Point("smart_devices_location"."latitude", "smart_devices_location"."longitude")) as "location" -- 2

FROM "devices_data"."smart_devices_events"
INNER JOIN "master_data"."smart_devices_location"
ON "smart_devices_location"."device_id" = "smart_devices_events"."deviceid"

GROUP BY 2 -- second projected column
;
