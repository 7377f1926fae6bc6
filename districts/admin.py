from django.contrib import admin

from districts.models import District, SubDistrict, WelfareOffice


class DistrictInline(admin.TabularInline):
    model = District
    fields = ["code", "name_en", "name_zh", "region"]
    extra = 0
    show_change_link = True


@admin.register(WelfareOffice)
class WelfareOfficeAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh"]
    search_fields = ["code", "name_en", "name_zh"]
    inlines = [DistrictInline]


@admin.register(District)
class DistrictAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh", "region", "welfare_office"]
    list_filter = ["region", "welfare_office"]
    search_fields = ["code", "name_en", "name_zh"]
    list_select_related = ["welfare_office"]


@admin.register(SubDistrict)
class SubDistrictAdmin(admin.ModelAdmin):
    list_display = ["code", "name_en", "name_zh", "district"]
    list_filter = ["district"]
    search_fields = ["code", "name_en", "name_zh"]
    list_select_related = ["district"]
    autocomplete_fields = ["district"]
